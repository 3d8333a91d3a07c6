//! The word being merged, shared by both BPE flavours: a linked list of byte spans
//! (one per character at first) whose neighbours join pairwise.

#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

pub(crate) struct Spans(Vec<Span>);

impl Spans {
    /// One span per character of `text`.
    pub(crate) fn of_chars(text: &str) -> Spans {
        let mut spans: Vec<Span> = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let i = spans.len();
            spans.push(Span {
                start,
                end: start + c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                spans[i - 1].next = Some(i);
            }
        }
        Spans(spans)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Byte range of span `i`.
    pub(crate) fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.0[i].start..self.0[i].end
    }

    /// Byte range of `l` through `r`.
    pub(crate) fn pair_range(&self, l: usize, r: usize) -> std::ops::Range<usize> {
        self.0[l].start..self.0[r].end
    }

    /// True while `l` and `r` are both alive and still neighbours (a queued pair goes
    /// stale when either side was merged away).
    pub(crate) fn adjacent(&self, l: usize, r: usize) -> bool {
        let (a, b) = (self.0[l], self.0[r]);
        a.start != a.end && b.start != b.end && a.next == Some(r)
    }

    /// Merges `r` into its left neighbour `l`; `r` becomes empty.
    pub(crate) fn join(&mut self, l: usize, r: usize) {
        let right = self.0[r];
        self.0[l].end = right.end;
        self.0[l].next = right.next;
        self.0[r].start = right.end;
        if let Some(n) = right.next {
            self.0[n].prev = Some(l);
        }
    }

    pub(crate) fn prev(&self, i: usize) -> Option<usize> {
        self.0[i].prev
    }

    pub(crate) fn next(&self, i: usize) -> Option<usize> {
        self.0[i].next
    }

    /// Indices of the live spans, in order.
    pub(crate) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        let first = if self.0.is_empty() { None } else { Some(0) };
        std::iter::successors(first, |&i| self.0[i].next)
    }
}
