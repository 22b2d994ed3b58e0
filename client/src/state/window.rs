//! Virtualised lists: which rows of a long list to put in the page, given
//! how far it is scrolled. Rows have a fixed height.

use std::ops::Range;

/// Rows rendered above and below the visible ones, so fast scrolling does
/// not show gaps.
pub const OVERSCAN: usize = 8;

/// The rows to render of `len` rows of `row_height` px, in a viewport of
/// `viewport` px scrolled by `scroll_top` px.
pub fn visible_rows(scroll_top: f64, viewport: f64, row_height: f64, len: usize) -> Range<usize> {
    if len == 0 || row_height <= 0.0 {
        return 0..0;
    }
    let first = (scroll_top.max(0.0) / row_height).floor() as usize;
    let shown = (viewport.max(row_height) / row_height).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN).min(len);
    let end = (first + shown + OVERSCAN).min(len);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_around_the_viewport() {
        assert_eq!(visible_rows(0.0, 300.0, 30.0, 1000), 0..(11 + OVERSCAN));
        assert_eq!(visible_rows(3000.0, 300.0, 30.0, 1000), 92..119);
        assert_eq!(visible_rows(1e9, 300.0, 30.0, 1000), 1000..1000);
        assert_eq!(visible_rows(0.0, 300.0, 30.0, 5), 0..5);
        assert_eq!(visible_rows(0.0, 0.0, 30.0, 100), 0..(2 + OVERSCAN));
        assert_eq!(visible_rows(0.0, 300.0, 0.0, 100), 0..0);
        assert_eq!(visible_rows(-50.0, 300.0, 30.0, 0), 0..0);
    }
}
