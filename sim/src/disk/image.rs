//! One simulated file's bytes: two sparse images (the page cache and the durable device) and
//! the set of pages where they may differ. Pure: no locks, no faults, randomness handed in.
//!
//! Invariants:
//! - Pages are `page_size` bytes; a page absent from an image reads as zeros.
//! - A page not in `dirty` has the same content in both images (often the same `Arc`).
//! - Bytes at or past `len` are never read; the last page may be partly past the end.
//!
//! Both images are vectors indexed by page number (grown on demand up to the last page
//! written) and `dirty` is a bitset: every read and write of a simulated broker comes through
//! here, and a lookup by index costs a fraction of a tree's. Everything that visits pages does
//! so in ascending page order, as the sorted maps this replaced did.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::Rng;

use super::config::PowerLossWeights;

/// One page of one image, shared between the two images until one of them is written.
pub(super) type Page = Arc<[u8]>;

/// The fates of the dirty pages at one power loss, for reports and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PowerLossPages {
    /// Pages that reached the device whole.
    pub written_back: u64,
    /// Pages whose new content was lost.
    pub lost: u64,
    /// Pages that mixed old and new sectors.
    pub torn: u64,
}

/// One image: `pages[i]` is page `i`, `None` (or past the end) when it reads as zeros.
type Pages = Vec<Option<Page>>;

/// A file's content as the cache and the device hold it.
#[derive(Debug)]
pub(super) struct FileImage {
    /// Length in bytes, fixed at creation.
    len: u64,
    /// Size of every page in both images.
    page_size: u64,
    /// What reads see: the OS page cache, which survives a process kill.
    cache: Pages,
    /// What survives a power loss.
    durable: Pages,
    /// Pages written since they were last synced.
    dirty: PageSet,
}

impl FileImage {
    /// A file of `len` zero bytes, durable as such.
    pub(super) fn zeroed(len: u64, page_size: u64) -> FileImage {
        debug_assert!(page_size.is_power_of_two());
        FileImage { len, page_size, cache: Vec::new(), durable: Vec::new(), dirty: PageSet::default() }
    }

    /// A file holding `data`, durable as such (what `replace_atomic` leaves).
    pub(super) fn durable_from(data: &[u8], page_size: u64) -> FileImage {
        let mut image = FileImage::zeroed(data.len() as u64, page_size);
        image.write(0, data);
        image.sync(0, image.len);
        image
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Copies `data` into the cache at `offset` and marks the pages dirty. The caller has
    /// checked the range.
    pub(super) fn write(&mut self, offset: u64, data: &[u8]) {
        debug_assert!(offset + data.len() as u64 <= self.len);
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let (index, within) = (at / self.page_size, (at % self.page_size) as usize);
            let chunk = (self.page_size as usize - within).min(data.len() - done);
            let page = page_mut(&mut self.cache, index, self.page_size);
            page[within..within + chunk].copy_from_slice(&data[done..done + chunk]);
            self.dirty.insert(index);
            done += chunk;
        }
    }

    /// Appends `len` bytes of the cache from `offset` to `out`. The caller has checked the
    /// range and reserved the memory.
    pub(super) fn read_cache(&self, offset: u64, len: u64, out: &mut Vec<u8>) {
        read_image(&self.cache, self.page_size, offset, len, out);
    }

    /// Appends `len` bytes of the durable image from `offset` to `out`.
    pub(super) fn read_durable(&self, offset: u64, len: u64, out: &mut Vec<u8>) {
        read_image(&self.durable, self.page_size, offset, len, out);
    }

    /// Makes every page overlapping `[offset, offset + len)` durable (as msync does, whole
    /// pages). Returns the number of dirty pages written.
    pub(super) fn sync(&mut self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let first = offset / self.page_size;
        let last = (offset + len - 1) / self.page_size;
        let mut written = 0;
        for index in self.dirty.take_range(first, last) {
            set_page(&mut self.durable, index, get_page(&self.cache, index).cloned());
            written += 1;
        }
        written
    }

    /// Power fails: each dirty page is written back, lost or torn (drawn from `rng`), then both
    /// images hold the result and nothing is dirty.
    pub(super) fn power_loss(
        &mut self,
        rng: &mut StdRng,
        weights: PowerLossWeights,
        sector_size: u64,
    ) -> PowerLossPages {
        let mut fates = PowerLossPages::default();
        let total = u64::from(weights.written_back) + u64::from(weights.lost) + u64::from(weights.torn);
        for index in self.dirty.take_all() {
            let new = get_page(&self.cache, index).cloned();
            let old = get_page(&self.durable, index).cloned();
            let draw = if total == 0 { 0 } else { rng.gen_range(0..total) };
            let result = if draw < u64::from(weights.written_back) {
                fates.written_back += 1;
                new
            } else if draw < u64::from(weights.written_back) + u64::from(weights.lost) {
                fates.lost += 1;
                old
            } else {
                fates.torn += 1;
                Some(tear(rng, old.as_deref(), new.as_deref(), self.page_size, sector_size))
            };
            set_page(&mut self.cache, index, result.clone());
            set_page(&mut self.durable, index, result);
        }
        fates
    }

    /// Applies `flip` to every byte of `[offset, offset + len)` in both images, leaving the
    /// dirty set as it was (media corruption, not a write).
    pub(super) fn corrupt(&mut self, offset: u64, len: u64, mut flip: impl FnMut() -> u8) {
        let mut done = 0u64;
        while done < len {
            let at = offset + done;
            let (index, within) = (at / self.page_size, (at % self.page_size) as usize);
            let chunk = (self.page_size - within as u64).min(len - done) as usize;
            let masks: Vec<u8> = (0..chunk).map(|_| flip()).collect();
            for image in [&mut self.cache, &mut self.durable] {
                let page = page_mut(image, index, self.page_size);
                for (byte, mask) in page[within..within + chunk].iter_mut().zip(&masks) {
                    *byte ^= mask;
                }
            }
            if !self.dirty.contains(index) {
                // Both images changed the same way: share one copy again.
                let shared = get_page(&self.cache, index).cloned();
                set_page(&mut self.durable, index, shared);
            }
            done += chunk as u64;
        }
    }

    /// Number of dirty pages.
    pub(super) fn dirty_pages(&self) -> u64 {
        self.dirty.len()
    }

    /// Number of distinct pages held in memory (a page shared by both images counts once).
    pub(super) fn resident_pages(&self) -> u64 {
        let cached = self.cache.iter().flatten().count();
        let durable_only = self
            .durable
            .iter()
            .enumerate()
            .filter_map(|(index, page)| Some((index, page.as_ref()?)))
            .filter(|(index, page)| {
                !self.cache.get(*index).and_then(Option::as_ref).is_some_and(|c| Arc::ptr_eq(c, page))
            })
            .count();
        (cached + durable_only) as u64
    }
}

/// A set of page numbers: one bit per page, grown on demand, with a count.
#[derive(Debug, Default)]
struct PageSet {
    /// Bit `i % 64` of word `i / 64` is page `i`.
    words: Vec<u64>,
    /// Pages in the set.
    len: u64,
}

impl PageSet {
    fn insert(&mut self, index: u64) {
        let (word, bit) = ((index / 64) as usize, index % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & (1 << bit) == 0 {
            self.words[word] |= 1 << bit;
            self.len += 1;
        }
    }

    fn contains(&self, index: u64) -> bool {
        self.words.get((index / 64) as usize).is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    fn len(&self) -> u64 {
        self.len
    }

    /// Empties the set, returning its pages in ascending order.
    fn take_all(&mut self) -> Vec<u64> {
        self.take_range(0, u64::MAX)
    }

    /// Removes the pages in `[first, last]` and returns them in ascending order.
    fn take_range(&mut self, first: u64, last: u64) -> Vec<u64> {
        let mut taken = Vec::new();
        let end_word = ((last / 64) as usize).min(self.words.len().saturating_sub(1));
        for word in (first / 64) as usize..=end_word {
            let Some(bits) = self.words.get_mut(word) else { break };
            let mut remaining = *bits;
            while remaining != 0 {
                let bit = u64::from(remaining.trailing_zeros());
                remaining &= remaining - 1;
                let index = word as u64 * 64 + bit;
                if (first..=last).contains(&index) {
                    *bits &= !(1 << bit);
                    taken.push(index);
                }
            }
        }
        self.len -= taken.len() as u64;
        taken
    }
}

/// Page `index` of `image`, if present.
fn get_page(image: &Pages, index: u64) -> Option<&Page> {
    image.get(usize::try_from(index).ok()?)?.as_ref()
}

/// The page `index` of `image`, made present and unshared so it can be written.
fn page_mut(image: &mut Pages, index: u64, page_size: u64) -> &mut [u8] {
    let at = index as usize;
    if at >= image.len() {
        image.resize(at + 1, None);
    }
    let page = image[at].get_or_insert_with(|| zero_page(page_size));
    Arc::make_mut(page)
}

/// A fresh page of zeros.
fn zero_page(page_size: u64) -> Page {
    Arc::from(vec![0u8; page_size as usize])
}

/// Stores `page` at `index`, or clears the entry for an absent (all-zero) page.
fn set_page(image: &mut Pages, index: u64, page: Option<Page>) {
    let at = index as usize;
    match page {
        Some(page) => {
            if at >= image.len() {
                image.resize(at + 1, None);
            }
            image[at] = Some(page);
        }
        None => {
            if let Some(slot) = image.get_mut(at) {
                *slot = None;
            }
        }
    }
}

/// A page whose sectors are each, by a fair coin, from `old` or `new` (absent = zeros).
fn tear(rng: &mut StdRng, old: Option<&[u8]>, new: Option<&[u8]>, page_size: u64, sector_size: u64) -> Page {
    let sector = sector_size as usize;
    let mut page = vec![0u8; page_size as usize];
    for (index, sector_bytes) in page.chunks_mut(sector).enumerate() {
        let source = if rng.gen_bool(0.5) { new } else { old };
        if let Some(source) = source {
            sector_bytes.copy_from_slice(&source[index * sector..(index + 1) * sector]);
        }
    }
    Arc::from(page)
}

/// Appends `len` bytes of `image` from `offset` to `out`, zeros for absent pages.
fn read_image(image: &Pages, page_size: u64, offset: u64, len: u64, out: &mut Vec<u8>) {
    let mut done = 0u64;
    while done < len {
        let at = offset + done;
        let (index, within) = (at / page_size, (at % page_size) as usize);
        let chunk = (page_size - within as u64).min(len - done) as usize;
        match get_page(image, index) {
            Some(page) => out.extend_from_slice(&page[within..within + chunk]),
            None => out.resize(out.len() + chunk, 0),
        }
        done += chunk as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cache(image: &FileImage) -> Vec<u8> {
        let mut out = Vec::new();
        image.read_cache(0, image.len(), &mut out);
        out
    }

    fn durable(image: &FileImage) -> Vec<u8> {
        let mut out = Vec::new();
        image.read_durable(0, image.len(), &mut out);
        out
    }

    #[test]
    fn writes_reach_the_cache_and_only_a_covering_sync_makes_them_durable() {
        let mut image = FileImage::zeroed(40, 16);
        image.write(14, b"abcd");
        assert_eq!(&cache(&image)[14..18], b"abcd");
        assert_eq!(durable(&image), vec![0; 40]);
        assert_eq!(image.dirty_pages(), 2);
        assert_eq!(image.sync(0, 15), 1, "only page 0 overlaps");
        assert_eq!(&durable(&image)[14..18], b"ab\0\0");
        assert_eq!(image.sync(16, 24), 1);
        assert_eq!(durable(&image), cache(&image));
        assert_eq!(image.resident_pages(), 2, "synced pages are shared, not copied");
    }

    #[test]
    fn a_torn_page_mixes_whole_sectors_only() {
        let weights = PowerLossWeights { written_back: 0, lost: 0, torn: 1 };
        let mut rng = StdRng::seed_from_u64(7);
        let mut image = FileImage::zeroed(64, 64);
        image.write(0, &[1; 64]);
        image.sync(0, 64);
        image.write(0, &[2; 64]);
        let fates = image.power_loss(&mut rng, weights, 8);
        assert_eq!(fates, PowerLossPages { written_back: 0, lost: 0, torn: 1 });
        let bytes = cache(&image);
        assert_eq!(bytes, durable(&image));
        for sector in bytes.chunks(8) {
            assert!(sector == [1; 8] || sector == [2; 8], "{sector:?}");
        }
        assert_eq!(image.dirty_pages(), 0);
    }

    /// The page set answers as a sorted set does, through random inserts and range takes.
    #[test]
    fn page_set_behaves_as_a_sorted_set() {
        use std::collections::BTreeSet;
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..200 {
            let (mut set, mut model) = (PageSet::default(), BTreeSet::new());
            for _ in 0..rng.gen_range(0..40) {
                if rng.gen_bool(0.7) {
                    let page = rng.gen_range(0..300u64);
                    set.insert(page);
                    model.insert(page);
                } else {
                    let first = rng.gen_range(0..300u64);
                    let last = first + rng.gen_range(0..150u64);
                    let expected: Vec<u64> = model.range(first..=last).copied().collect();
                    model.retain(|page| !(first..=last).contains(page));
                    assert_eq!(set.take_range(first, last), expected);
                }
                assert_eq!(set.len(), model.len() as u64);
                let page = rng.gen_range(0..300u64);
                assert_eq!(set.contains(page), model.contains(&page));
            }
            assert_eq!(set.take_all(), model.into_iter().collect::<Vec<_>>());
            assert_eq!(set.len(), 0);
        }
    }

    #[test]
    fn corruption_changes_both_images_and_keeps_dirtiness() {
        let mut image = FileImage::zeroed(32, 16);
        image.write(0, &[5; 32]);
        image.sync(0, 16);
        image.corrupt(15, 2, || 0xff);
        assert_eq!(&cache(&image)[14..18], &[5, 0xfa, 0xfa, 5]);
        assert_eq!(&durable(&image)[14..18], &[5, 0xfa, 0xff, 0]);
        assert_eq!(image.dirty_pages(), 1);
    }
}
