(module
  (type (;0;) (func (param i32) (result i32)))
  (type (;1;) (func (param i32) (result i64)))
  (type (;2;) (func (param i32 i32 i32) (result i32)))
  (import "env" "step" (func (;0;) (type 0)))
  (import "env" "rflags" (func (;1;) (type 1)))
  (memory (;0;) 128)
  (export "mem" (memory 0))
  (export "f0" (func 2))
  (export "f1" (func 3))
  (func (;2;) (type 2) (param i32 i32 i32) (result i32)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i32 i32 i32 i32 i32 i32 i32 f64 f64 f64 f32 f32 f32 v128 v128 v128)
    local.get 0
    i64.load
    local.set 3
    local.get 0
    i64.load offset=24
    local.set 6
    local.get 0
    i64.load offset=32
    local.set 7
    local.get 0
    i64.load offset=56
    local.set 10
    local.get 0
    i64.load offset=168
    local.set 22
    local.get 2
    i32.const 200
    i32.ge_s
    local.get 2
    i32.const 0
    i32.ne
    local.get 0
    i64.load offset=608
    local.get 7
    i64.sub
    i64.const -1
    i64.add
    i64.const 1048576
    i64.lt_u
    i32.and
    i32.or
    if ;; label = @1
      local.get 0
      i64.const 4198400
      i64.store offset=128
      i32.const 0
      return
    end
    local.get 1
    local.set 33
    block ;; label = @1
      block ;; label = @2
        block ;; label = @3
          loop ;; label = @4
            block ;; label = @5
              block ;; label = @6
                block ;; label = @7
                  block ;; label = @8
                    local.get 33
                    br_table 0 (;@8;) 1 (;@7;) 2 (;@6;) 3 (;@5;) 0 (;@8;)
                  end
                  local.get 10
                  i32.wrap_i64
                  i64.extend_i32_u
                  local.set 25
                  i64.const 1
                  i32.wrap_i64
                  i64.extend_i32_u
                  local.set 26
                  local.get 25
                  local.get 26
                  i64.sub
                  i32.wrap_i64
                  i64.extend_i32_u
                  local.set 27
                  local.get 25
                  local.set 20
                  local.get 26
                  local.set 21
                  local.get 27
                  local.set 19
                  i32.const 3
                  local.set 31
                  i32.const 4
                  local.set 32
                  local.get 22
                  i64.const -2262
                  i64.and
                  local.set 22
                  local.get 24
                  i64.const 2
                  i64.add
                  local.set 24
                  local.get 20
                  i64.extend32_s
                  local.get 21
                  i64.extend32_s
                  i64.le_s
                  if ;; label = @8
                    br 3 (;@5;)
                  end
                end
                local.get 6
                local.set 29
                local.get 7
                i64.const 8
                i64.sub
                local.tee 7
                i32.wrap_i64
                local.set 37
                local.get 37
                local.get 29
                i64.store offset=65536 align=1
                local.get 10
                i32.wrap_i64
                i64.extend_i32_u
                local.set 27
                local.get 27
                i32.wrap_i64
                i64.extend_i32_u
                local.set 6
                local.get 10
                i32.wrap_i64
                i64.extend_i32_u
                local.set 25
                i64.const 1
                local.set 26
                local.get 25
                local.get 26
                i64.sub
                i32.wrap_i64
                i64.extend_i32_u
                local.set 27
                local.get 27
                i32.wrap_i64
                i64.extend_i32_u
                local.set 10
                local.get 24
                i64.const 4
                i64.add
                local.set 24
                i64.const 4198415
                local.set 29
                local.get 7
                i64.const 8
                i64.sub
                local.tee 7
                i32.wrap_i64
                local.set 37
                local.get 37
                local.get 29
                i64.store offset=65536 align=1
                local.get 0
                local.get 6
                i64.store offset=24
                local.get 0
                local.get 7
                i64.store offset=32
                local.get 0
                local.get 10
                i64.store offset=56
                local.get 0
                i32.const 0
                local.get 2
                i32.const 1
                i32.add
                call 2
                local.tee 34
                local.get 0
                i64.load offset=128
                i64.const 4198415
                i64.ne
                i32.or
                if ;; label = @7
                  br 6 (;@1;)
                end
                local.get 0
                i64.load
                local.set 3
                local.get 0
                i64.load offset=24
                local.set 6
                local.get 0
                i64.load offset=32
                local.set 7
                local.get 0
                i64.load offset=56
                local.set 10
              end
              local.get 3
              i32.wrap_i64
              i64.extend_i32_u
              local.set 25
              local.get 6
              i32.wrap_i64
              i64.extend_i32_u
              local.set 26
              local.get 25
              local.get 26
              i64.add
              i32.wrap_i64
              i64.extend_i32_u
              local.set 27
              local.get 27
              i32.wrap_i64
              i64.extend_i32_u
              local.set 3
              local.get 7
              i32.wrap_i64
              i64.load offset=65536 align=1
              local.get 7
              i64.const 8
              i64.add
              local.set 7
              local.set 6
              local.get 24
              i64.const 3
              i64.add
              local.set 24
              local.get 7
              i32.wrap_i64
              i64.load offset=65536 align=1
              local.get 7
              i64.const 8
              i64.add
              local.set 7
              local.set 23
              br 3 (;@2;)
            end
            local.get 10
            i32.wrap_i64
            i64.extend_i32_u
            local.set 27
            local.get 27
            i32.wrap_i64
            i64.extend_i32_u
            local.set 3
            local.get 24
            i64.const 2
            i64.add
            local.set 24
            local.get 7
            i32.wrap_i64
            i64.load offset=65536 align=1
            local.get 7
            i64.const 8
            i64.add
            local.set 7
            local.set 23
            br 2 (;@2;)
          end
          unreachable
        end
        local.get 0
        local.get 19
        i64.store offset=144
        local.get 0
        local.get 20
        i64.store offset=152
        local.get 0
        local.get 21
        i64.store offset=160
        local.get 0
        local.get 22
        i64.store offset=168
        local.get 0
        local.get 31
        i32.store offset=136
        local.get 0
        local.get 32
        i32.store offset=140
      end
      local.get 0
      local.get 3
      i64.store
      local.get 0
      local.get 6
      i64.store offset=24
      local.get 0
      local.get 7
      i64.store offset=32
      local.get 0
      local.get 10
      i64.store offset=56
      local.get 0
      local.get 23
      i64.store offset=128
    end
    local.get 0
    local.get 0
    i64.load offset=600
    local.get 24
    i64.add
    i64.store offset=600
    i64.const 0
    local.set 24
    local.get 34
  )
  (func (;3;) (type 2) (param i32 i32 i32) (result i32)
    (local i64)
    local.get 0
    i64.load offset=128
    local.set 3
    block ;; label = @1
      block ;; label = @2
        local.get 3
        i32.wrap_i64
        i32.const -1640531535
        i32.mul
        i32.const 31
        i32.shr_u
        br_table 1 (;@1;) 0 (;@2;) 1 (;@1;)
      end
      local.get 3
      i64.const 4198400
      i64.eq
      if ;; label = @2
        local.get 0
        i32.const 0
        local.get 2
        call 2
        return
      end
      br 0 (;@1;)
    end
    i32.const 0
  )
)
