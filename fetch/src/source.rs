//! What every image source resolves to: a verified config, the layers in order, and a way to open
//! each layer as a stream that is checked against its digest as it is read.

use std::io::Read;

use crate::digest::Digest;
use crate::error::Result;

/// One layer of an image as its manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerInfo {
    /// The digest the layer blob is checked against (for classic `docker save` archives, the
    /// uncompressed `diff_id`).
    pub digest: Digest,
    /// Bytes of the blob as stored.
    pub size: u64,
    pub media_type: String,
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An image's manifest-level facts, before its layers are applied.
#[derive(Debug)]
pub struct Resolved {
    /// The digest of the image manifest, where the source has one.
    pub manifest_digest: Option<Digest>,
    /// The image config JSON, already checked against its digest.
    pub config: Vec<u8>,
    pub layers: Vec<LayerInfo>,
    /// Where each layer's bytes are, in a source-specific form (a path in a store, a cache file).
    pub(crate) locations: Vec<String>,
}

/// Opens layers of a resolved image.
pub(crate) trait LayerSource {
    /// Opens layer `index` of `resolved`. The stream fails at its end if the bytes do not match.
    fn open_layer(&self, resolved: &Resolved, index: usize) -> Result<Box<dyn Read + Send + '_>>;
}
