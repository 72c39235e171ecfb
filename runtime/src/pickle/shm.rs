//! Pickles across processes through shared memory: the out-of-band buffers stay in (or go
//! into) [`keel::shm`](crate::shm) segments, and a small *manifest* segment carries the
//! in-band pickle and where each buffer lives. A Python process maps the same segments and
//! calls `pickle.loads(inband, buffers=[views of them])`, so a large numpy array crosses
//! without a copy on either side. The Python half is `examples/python/keel_pickle_shm.py`
//! (`load(name)` and `dump(obj, regions)`).
//!
//! * **Zero copy**: a buffer that already lies inside one of the [`Region`]s given to
//!   [`export`] (an array the producer built in a segment) is recorded as *(segment name,
//!   offset, length)*.
//! * **One copy**: any other buffer is copied into the manifest segment (64-byte aligned).
//!
//! ```
//! use keel_runtime::pickle::shm::{export, import, Region};
//! use keel_runtime::pickle::{from_frames, to_frames, NdArray};
//! use keel_runtime::shm::Segment;
//!
//! // The producer builds its array directly in shared memory...
//! let mut seg = Segment::create(8 * 1000)?;
//! // SAFETY: nobody else knows this fresh segment's name yet.
//! let bytes = unsafe { seg.as_mut_slice() };
//! for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
//!     chunk.copy_from_slice(&(i as f64).to_ne_bytes());
//! }
//! // SAFETY: the producer writes no more.
//! let region = unsafe { Region::from_segment(seg) };
//! let array = NdArray::<f64>::from_buffer(region.view().clone())?;
//! let sent = export(&to_frames(&("samples", array))?, &[region])?;
//! assert_eq!(sent.copied_len(), 0); // the array stayed where it was
//!
//! // ... another process (Python: keel_pickle_shm.load(name)) maps it by name:
//! // SAFETY: the producer writes none of these segments any more.
//! let received = unsafe { import(sent.name())? };
//! let (label, samples): (String, NdArray<'static, f64>) = received.frames.load()?;
//! assert_eq!((label.as_str(), samples.as_slice()[999]), ("samples", 999.0));
//! # Ok::<(), keel_runtime::pickle::PickleError>(())
//! ```
//!
//! # Manifest layout (little-endian)
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `b"KEELPK5\0"` |
//! | 4 | version, 1 |
//! | 4 | number of named segments `S` |
//! | 4 | number of buffers `N` |
//! | 4 | length of the names block |
//! | 8 | length of the in-band pickle |
//! | names | the `S` segment names, each followed by `\n` |
//! | pad | to a multiple of 8 |
//! | 24 × N | per buffer: segment (u32; `0xFFFFFFFF` = the manifest itself), flags (u32; bit 0 read-only), offset (u64), length (u64) |
//! | in-band | the pickle |
//! | copies | buffers copied into the manifest, each at a multiple of 64 |
//!
//! # Lifetimes
//!
//! The [`Export`] keeps the manifest and every region alive (and named) until it is dropped;
//! the consumer must have mapped them by then (a reply over a pipe, as in the examples).

use crate::buffer::Buffer;
use crate::shm::Segment;

use super::{Frames, PickleError};

const MAGIC: &[u8; 8] = b"KEELPK5\0";
const VERSION: u32 = 1;
const HEADER: usize = 32;
const ENTRY: usize = 24;
const SELF: u32 = u32::MAX;
const ALIGN: usize = 64;

/// A shared-memory segment (its name and a view of all of it) that buffers may lie in.
///
/// ```
/// use keel_runtime::pickle::shm::Region;
/// let seg = keel_runtime::shm::Segment::create(64)?;
/// let name = seg.name().to_string();
/// // SAFETY: nothing writes the segment from here on.
/// let region = unsafe { Region::from_segment(seg) };
/// assert_eq!((region.name(), region.view().len()), (name.as_str(), 64));
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Region {
    name: String,
    view: Buffer,
}

impl Region {
    /// A region from a segment's name and a view of the whole of it (the view must be the
    /// mapping of that very segment, or Python will read other bytes).
    ///
    /// ```
    /// use keel_runtime::pickle::shm::Region;
    /// let seg = keel_runtime::shm::Segment::create(16)?;
    /// let name = seg.name().to_string();
    /// // SAFETY: nothing writes the segment from here on.
    /// let region = Region::new(name, unsafe { seg.into_buffer() });
    /// assert_eq!(region.view().len(), 16);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn new(name: impl Into<String>, view: Buffer) -> Self {
        Self {
            name: name.into(),
            view,
        }
    }

    /// The region of a whole segment, through [`Segment::into_buffer`].
    ///
    /// # Safety
    ///
    /// [`Segment::into_buffer`]'s: nobody writes the segment while the region or any view of
    /// it lives.
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(16)?;
    /// // SAFETY: nothing writes the segment from here on.
    /// let region = unsafe { keel_runtime::pickle::shm::Region::from_segment(seg) };
    /// assert!(region.name().starts_with("psm_"));
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub unsafe fn from_segment(segment: Segment) -> Self {
        let name = segment.name().to_string();
        // SAFETY: the caller's promise, passed on.
        let view = unsafe { segment.into_buffer() };
        Self { name, view }
    }

    /// The segment's name.
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(8)?;
    /// let n = seg.name().to_string();
    /// // SAFETY: nothing writes the segment.
    /// assert_eq!(unsafe { keel_runtime::pickle::shm::Region::from_segment(seg) }.name(), n);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole mapping.
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(8)?;
    /// // SAFETY: nothing writes the segment.
    /// let r = unsafe { keel_runtime::pickle::shm::Region::from_segment(seg) };
    /// assert_eq!(r.view().slice(2..4).len(), 2);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn view(&self) -> &Buffer {
        &self.view
    }

    /// Where `b` starts inside this region, if it lies entirely within it.
    fn offset_of(&self, b: &Buffer) -> Option<usize> {
        let base = self.view.as_ptr() as usize;
        let start = b.as_ptr() as usize;
        let offset = start.checked_sub(base)?;
        (offset.checked_add(b.len())? <= self.view.len()).then_some(offset)
    }
}

/// Frames published in shared memory by [`export`]: the manifest segment, and the regions it
/// refers to, kept alive until this is dropped.
///
/// ```
/// let sent = keel_runtime::pickle::shm::export(&keel_runtime::pickle::to_frames(&1u8)?, &[])?;
/// assert!(sent.name().starts_with("psm_"));
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Debug)]
pub struct Export {
    manifest: Segment,
    copied: usize,
    _regions: Vec<Region>,
}

impl Export {
    /// The manifest's name: what the consumer opens (`keel_pickle_shm.load(name)`).
    ///
    /// ```
    /// let sent = keel_runtime::pickle::shm::export(&keel_runtime::pickle::to_frames(&())?, &[])?;
    /// assert!(!sent.name().is_empty());
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn name(&self) -> &str {
        self.manifest.name()
    }

    /// How many buffer bytes were copied into the manifest (0 when every buffer lay in a
    /// region).
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// use keel_runtime::pickle::{shm::export, to_frames};
    /// let sent = export(&to_frames(&Buffer::from(vec![1u8; 100]))?, &[])?;
    /// assert_eq!(sent.copied_len(), 100); // on the heap, so copied once
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn copied_len(&self) -> usize {
        self.copied
    }

    /// The manifest segment (to [`persist`](Segment::persist) it, for example).
    ///
    /// ```
    /// let sent = keel_runtime::pickle::shm::export(&keel_runtime::pickle::to_frames(&())?, &[])?;
    /// assert!(sent.segment().is_creator());
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn segment(&self) -> &Segment {
        &self.manifest
    }
}

fn align(n: usize, to: usize) -> Option<usize> {
    n.checked_add(to - 1).map(|n| n / to * to)
}

fn too_big() -> PickleError {
    PickleError::Shm("the manifest would exceed usize::MAX bytes".into())
}

/// Publishes `frames` in shared memory: writes a manifest segment and returns it. Buffers that
/// lie in one of `regions` are referred to where they are; the others are copied into the
/// manifest.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// use keel_runtime::pickle::{shm, to_frames};
/// let frames = to_frames(&("x", Buffer::from(vec![7u8; 1000])))?;
/// let sent = shm::export(&frames, &[])?;
/// // SAFETY: nothing writes the manifest after `export`.
/// let got = unsafe { shm::import(sent.name())? };
/// let (_, b): (String, Buffer) = got.frames.load()?;
/// assert_eq!(b, vec![7u8; 1000].as_slice());
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
pub fn export(frames: &Frames, regions: &[Region]) -> Result<Export, PickleError> {
    // Where each buffer goes: (segment index or SELF, offset).
    let mut used: Vec<&Region> = Vec::new();
    let mut places = Vec::with_capacity(frames.buffers.len());
    let mut spills = Vec::new();
    for b in &frames.buffers {
        let found = regions.iter().find_map(|r| r.offset_of(b).map(|o| (r, o)));
        match found {
            Some((r, offset)) if !b.is_empty() => {
                let index = match used.iter().position(|u| core::ptr::eq(*u, r)) {
                    Some(i) => i,
                    None => {
                        used.push(r);
                        used.len() - 1
                    }
                };
                places.push((index as u32, offset));
            }
            _ => {
                spills.push(b);
                places.push((SELF, usize::MAX)); // offset fixed below
            }
        }
    }
    let mut names = String::new();
    for r in &used {
        if r.name.contains('\n') {
            return Err(PickleError::Shm(format!(
                "segment name {:?} contains a newline",
                r.name
            )));
        }
        names.push_str(&r.name);
        names.push('\n');
    }
    let table = align(HEADER + names.len(), 8).ok_or_else(too_big)?;
    let inband_at = frames
        .buffers
        .len()
        .checked_mul(ENTRY)
        .and_then(|t| t.checked_add(table))
        .ok_or_else(too_big)?;
    let mut end = inband_at
        .checked_add(frames.inband.len())
        .ok_or_else(too_big)?;
    let mut copied = 0usize;
    for (place, b) in places.iter_mut().filter(|p| p.0 == SELF).zip(&spills) {
        let at = align(end, ALIGN).ok_or_else(too_big)?;
        place.1 = at;
        end = at.checked_add(b.len()).ok_or_else(too_big)?;
        copied += b.len();
    }
    let manifest = Segment::create(end.max(1))?;
    let mut header = Vec::with_capacity(inband_at);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&(used.len() as u32).to_le_bytes());
    let count = u32::try_from(frames.buffers.len())
        .map_err(|_| PickleError::Shm("more than u32::MAX buffers".into()))?;
    header.extend_from_slice(&count.to_le_bytes());
    header.extend_from_slice(&(names.len() as u32).to_le_bytes());
    header.extend_from_slice(&(frames.inband.len() as u64).to_le_bytes());
    header.extend_from_slice(names.as_bytes());
    header.resize(table, 0);
    for ((segment, offset), b) in places.iter().zip(&frames.buffers) {
        header.extend_from_slice(&segment.to_le_bytes());
        header.extend_from_slice(&1u32.to_le_bytes()); // a Buffer is read-only
        header.extend_from_slice(&(*offset as u64).to_le_bytes());
        header.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    manifest.write_at(0, &header)?;
    manifest.write_at(inband_at, &frames.inband)?;
    for ((_, offset), b) in places.iter().filter(|p| p.0 == SELF).zip(&spills) {
        manifest.write_at(*offset, b)?;
    }
    Ok(Export {
        manifest,
        copied,
        _regions: used.into_iter().cloned().collect(),
    })
}

/// Frames read from shared memory by [`import`]: the in-band pickle and buffers that are
/// views of the mapped segments, and those segments' views by name.
#[derive(Clone, Debug)]
pub struct Import {
    /// Load with [`Frames::load`] or [`from_frames`](super::from_frames).
    pub frames: Frames,
    /// Each segment the buffers were found in, by name (the manifest under its own name).
    pub segments: Vec<(String, Buffer)>,
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], PickleError> {
    bytes
        .get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            PickleError::Shm(format!(
                "manifest of {} bytes is truncated at {at}",
                bytes.len()
            ))
        })
}

/// Maps the manifest named `name` and the segments it refers to; the buffers of the returned
/// frames are views of those mappings, not copies (the in-band pickle, small, is copied).
///
/// # Safety
///
/// [`Segment::into_buffer`]'s, for the manifest and every segment it names: nobody writes
/// them while the returned buffers (or anything read from them) live.
///
/// ```
/// use keel_runtime::pickle::{shm, to_frames};
/// let sent = shm::export(&to_frames(&vec!["a", "b"])?, &[])?;
/// // SAFETY: nothing writes the manifest after `export`.
/// let got = unsafe { shm::import(sent.name())? };
/// assert_eq!(got.frames.load::<Vec<String>>()?, ["a", "b"]);
///
/// // Not a manifest: an error naming what is wrong.
/// let other = keel_runtime::shm::Segment::create(64)?;
/// // SAFETY: nothing writes it.
/// let err = unsafe { shm::import(other.name()) }.unwrap_err();
/// assert!(err.to_string().contains("not a keel pickle manifest"), "{err}");
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
pub unsafe fn import(name: &str) -> Result<Import, PickleError> {
    let segment = Segment::open(name)?;
    // SAFETY: the caller's promise.
    let manifest = unsafe { segment.into_buffer() };
    let m = &manifest[..];
    if m.get(..8) != Some(&MAGIC[..]) {
        return Err(PickleError::Shm(format!(
            "segment {name:?} is not a keel pickle manifest"
        )));
    }
    let version = u32::from_le_bytes(field(m, 8)?);
    if version != VERSION {
        return Err(PickleError::Shm(format!(
            "manifest {name:?} has version {version}, expected {VERSION}"
        )));
    }
    let segments = u32::from_le_bytes(field(m, 12)?) as usize;
    let count = u32::from_le_bytes(field(m, 16)?) as usize;
    let names_len = u32::from_le_bytes(field(m, 20)?) as usize;
    let inband_len = u64::from_le_bytes(field(m, 24)?);
    let names = m
        .get(HEADER..HEADER.saturating_add(names_len))
        .and_then(|n| core::str::from_utf8(n).ok())
        .ok_or_else(|| PickleError::Shm(format!("manifest {name:?} has a corrupt names block")))?;
    let names: Vec<&str> = names.split_terminator('\n').collect();
    if names.len() != segments {
        return Err(PickleError::Shm(format!(
            "manifest {name:?} announces {segments} segments but names {}",
            names.len()
        )));
    }
    let mut views = Vec::with_capacity(segments + 1);
    for n in &names {
        let seg = Segment::open(n)?;
        // SAFETY: the caller's promise covers every segment the manifest names.
        views.push((n.to_string(), unsafe { seg.into_buffer() }));
    }
    let table = align(HEADER + names_len, 8).ok_or_else(too_big)?;
    let mut buffers = Vec::with_capacity(count.min(m.len() / ENTRY));
    for i in 0..count {
        let at = table.saturating_add(i.saturating_mul(ENTRY));
        let segment = u32::from_le_bytes(field(m, at)?);
        let offset = u64::from_le_bytes(field(m, at + 8)?);
        let len = u64::from_le_bytes(field(m, at + 16)?);
        let source = if segment == SELF {
            &manifest
        } else {
            &views
                .get(segment as usize)
                .ok_or_else(|| {
                    PickleError::Shm(format!("buffer {i} names segment {segment} of {segments}"))
                })?
                .1
        };
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?));
        let view = range.and_then(|r| source.get(r)).ok_or_else(|| {
            PickleError::Shm(format!(
                "buffer {i} ({len} bytes at {offset}) lies outside its segment of {} bytes",
                source.len()
            ))
        })?;
        buffers.push(view);
    }
    let inband_at = table.saturating_add(count.saturating_mul(ENTRY));
    let inband = usize::try_from(inband_len)
        .ok()
        .and_then(|l| m.get(inband_at..inband_at.checked_add(l)?))
        .ok_or_else(|| PickleError::Shm(format!("manifest {name:?} is truncated in its pickle")))?
        .to_vec();
    views.push((name.to_string(), manifest.clone()));
    Ok(Import {
        frames: Frames { inband, buffers },
        segments: views,
    })
}
