// SPDX-License-Identifier: GPL-2.0

//! Grouping patch sites into poke windows: one text poke maps at most two
//! pages (x86's `__text_poke`), so the sites of a switch are written as
//! few contiguous windows, each within two pages, instead of one poke per
//! site.  A window's bytes between its sites are written back unchanged.

/// The page size of the kernel text mappings.
pub const PAGE: u64 = 4096;

/// The span of one window: sites `first..end` of the sorted site list,
/// covering bytes `start..start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First site (index into the sorted sites).
    pub first: usize,
    /// One past the last site.
    pub end: usize,
    /// First byte.
    pub start: u64,
    /// Bytes covered.
    pub len: usize,
}

/// Split sites at the ascending, non-overlapping addresses `sites`, each
/// `site_len` bytes long, into windows that each stay within the two
/// pages from their first site's page.  Returns `None` if the addresses
/// are not ascending and non-overlapping.
pub fn windows(sites: &[u64], site_len: usize) -> Option<impl Iterator<Item = Window> + '_> {
    let len = site_len as u64;
    let ordered = sites
        .windows(2)
        .all(|w| w[0].checked_add(len).is_some_and(|e| e <= w[1]));
    if !ordered || sites.last().is_some_and(|a| a.checked_add(len).is_none()) {
        return None;
    }
    let mut i = 0;
    Some(core::iter::from_fn(move || {
        let start = *sites.get(i)?;
        let limit = (start & !(PAGE - 1)) + 2 * PAGE;
        let first = i;
        while i < sites.len() && sites[i] + len <= limit {
            i += 1;
        }
        // A site that crosses into a third page starts its own window.
        i = i.max(first + 1);
        let end_byte = sites[i - 1] + len;
        Some(Window {
            first,
            end: i,
            start,
            len: (end_byte - start) as usize,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn all(sites: &[u64]) -> Vec<Window> {
        windows(sites, 5).unwrap().collect()
    }

    #[test]
    fn sites_in_two_pages_share_a_window() {
        let w = all(&[0x1000, 0x1100, 0x1ff0, 0x2ffa]);
        assert_eq!(
            w,
            [Window {
                first: 0,
                end: 4,
                start: 0x1000,
                len: 0x1fff
            }]
        );
    }

    #[test]
    fn a_third_page_starts_a_new_window() {
        let w = all(&[0x1ff0, 0x2000, 0x2ff0, 0x2ffc, 0x3008]);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].first, w[0].end), (0, 3));
        assert_eq!(
            (w[1].first, w[1].end, w[1].start, w[1].len),
            (3, 5, 0x2ffc, 17)
        );
    }

    #[test]
    fn every_site_is_in_exactly_one_window_within_two_pages() {
        let mut sites: Vec<u64> = (0..500u64)
            .map(|i| 0x10000 + i * i * 37 % 997 * 64)
            .collect();
        sites.sort_unstable();
        sites.dedup();
        let w = all(&sites);
        let mut next = 0;
        for x in &w {
            assert_eq!(x.first, next);
            assert!(x.end > x.first);
            next = x.end;
            let page = x.start & !(PAGE - 1);
            assert!(x.start + x.len as u64 <= page + 2 * PAGE);
            assert_eq!(x.start, sites[x.first]);
            assert_eq!(x.start + x.len as u64, sites[x.end - 1] + 5);
        }
        assert_eq!(next, sites.len());
    }

    #[test]
    fn unordered_or_overlapping_sites_are_refused() {
        assert!(windows(&[0x2000, 0x1000], 5).is_none());
        assert!(windows(&[0x1000, 0x1003], 5).is_none());
        assert!(windows(&[u64::MAX - 2], 5).is_none());
        assert_eq!(all(&[]), []);
    }
}
