/* wordcount: counts words of a generated text in an open-addressing hash table
 * (FNV-1a). Stresses hashing, unpredictable branches, string compares and random
 * memory access. The text is pseudo-words of 1-4 syllables from a fixed PRNG, Zipf-like
 * so a few words are frequent. Usage: wordcount [MILLION_WORDS_x10], default 40 (4 M words). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (1u << 18)

struct slot {
    char word[24];
    uint32_t count;
    uint32_t hash;
};

static struct slot table[SLOTS];
static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *syllables[] = {
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "do", "an", "el",
    "or", "us", "ix", "qua", "tre", "bla", "fin", "gor", "hul", "jen", "zar", "wex",
};

static size_t make_word(char *w)
{
    /* Squaring a uniform number skews choices toward small indices. */
    uint64_t r = next();
    int n = 1 + (int)((r & 0xff) * (r & 0xff) / (256 * 256 / 4));
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        uint64_t s = next() % 24;
        s = s * s / 24;
        const char *syl = syllables[s];
        size_t l = strlen(syl);
        memcpy(w + len, syl, l);
        len += l;
    }
    w[len] = 0;
    return len;
}

static void add(const char *w, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    for (uint32_t i = h & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        struct slot *s = &table[i];
        if (s->count == 0) {
            memcpy(s->word, w, len + 1);
            s->hash = h;
            s->count = 1;
            return;
        }
        if (s->hash == h && strcmp(s->word, w) == 0) {
            s->count++;
            return;
        }
    }
}

int main(int argc, char **argv)
{
    long words = (argc > 1 ? atol(argv[1]) : 40) * 100000;
    char w[32];
    for (long i = 0; i < words; i++)
        add(w, make_word(w));
    uint32_t distinct = 0, best = 0;
    uint64_t sum = 0;
    const char *top = "";
    for (uint32_t i = 0; i < SLOTS; i++) {
        if (!table[i].count)
            continue;
        distinct++;
        sum += (uint64_t)table[i].hash * table[i].count;
        if (table[i].count > best || (table[i].count == best && strcmp(table[i].word, top) < 0)) {
            best = table[i].count;
            top = table[i].word;
        }
    }
    printf("words %ld distinct %u top %s x%u checksum %016llx\n", words, distinct, top, best,
           (unsigned long long)sum);
    return 0;
}
