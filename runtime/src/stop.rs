//! Stop strings for streamed generation, as OpenAI's `stop` and llama-server's behave:
//! text is emitted as it is decoded except for a tail that could still turn into a
//! stop string; once one appears, the text before it is the last emitted and
//! generation should end.

/// What [`StopStrings::push`] lets through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Safe to show now: no stop string can begin inside it.
    pub text: String,
    /// Index (in the list given to [`StopStrings::new`]) of the stop string that has
    /// matched; `text` then ends right before it, and generation should stop.
    pub stop: Option<usize>,
}

/// Matches stop strings across streamed text pieces.
///
/// A match is the occurrence that is complete first as text arrives (the one ending
/// earliest; of those ending at the same byte, the one starting earliest, then the
/// first in the list). This does not depend on how the text is cut into pieces, and
/// generation can stop as soon as a stop string is complete. It is also the earliest
/// occurrence by start, except where one stop string lies inside another.
#[derive(Clone, Debug)]
pub struct StopStrings {
    stops: Vec<String>,
    /// Longest stop string in bytes (0 if none): how far back a partial match can reach.
    longest: usize,
    /// Text taken in but not yet emitted: a suffix that may begin a stop string.
    held: String,
    matched: Option<usize>,
}

impl StopStrings {
    /// `stops` in the caller's order (indices in [`Pushed::stop`] refer to it); empty
    /// strings never match.
    pub fn new<I, S>(stops: I) -> StopStrings
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stops: Vec<String> = stops.into_iter().map(Into::into).collect();
        let longest = stops.iter().map(String::len).max().unwrap_or(0);
        StopStrings {
            stops,
            longest,
            held: String::new(),
            matched: None,
        }
    }

    /// The stop strings, as given.
    pub fn strings(&self) -> &[String] {
        &self.stops
    }

    /// The index of the stop string that matched, if one has.
    pub fn matched(&self) -> Option<usize> {
        self.matched
    }

    /// Takes the next decoded piece. Returns the text that can be shown now and, once
    /// a stop string has matched, which. After a match every push returns no text
    /// and the same index.
    pub fn push(&mut self, text: &str) -> Pushed {
        if self.matched.is_some() {
            return Pushed {
                text: String::new(),
                stop: self.matched,
            };
        }
        self.held.push_str(text);
        // Nothing emitted earlier can be part of a match (it was released only once no
        // stop string could start in it), so searching the held text is enough.
        let first = self
            .stops
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .filter_map(|(i, s)| self.held.find(s.as_str()).map(|at| (at + s.len(), at, i)))
            .min();
        if let Some((_, at, i)) = first {
            self.matched = Some(i);
            self.held.truncate(at);
            return Pushed {
                text: std::mem::take(&mut self.held),
                stop: Some(i),
            };
        }
        let keep = self.partial_start();
        let rest = self.held.split_off(keep);
        Pushed {
            text: std::mem::replace(&mut self.held, rest),
            stop: None,
        }
    }

    /// Ends the stream: the held-back text (no stop string completed in it), or
    /// nothing if a stop string matched.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Where the held text's longest suffix that is the start of some stop string
    /// begins (its length if there is none). Only char boundaries are tried, so the
    /// text released before it never ends inside a char.
    fn partial_start(&self) -> usize {
        let h = &self.held;
        // A partial match is shorter than the stop string it starts.
        let mut from = h.len().saturating_sub(self.longest.saturating_sub(1));
        while !h.is_char_boundary(from) {
            from += 1;
        }
        h[from..]
            .char_indices()
            .map(|(i, _)| from + i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&h[i..])))
            .unwrap_or(h.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::SplitMix64;

    /// Pushes every piece, then finishes: the text emitted, the stop reported (if any)
    /// and the index of the piece that reported it.
    fn run(stops: &[&str], pieces: &[&str]) -> (String, Option<usize>, Option<usize>) {
        let mut m = StopStrings::new(stops.iter().copied());
        let mut out = String::new();
        for (n, p) in pieces.iter().enumerate() {
            let r = m.push(p);
            out += &r.text;
            if r.stop.is_some() {
                assert_eq!(m.finish(), "");
                return (out, r.stop, Some(n));
            }
        }
        out += &m.finish();
        (out, None, None)
    }

    #[test]
    fn no_stop_strings_emit_everything_at_once() {
        let mut m = StopStrings::new(Vec::<String>::new());
        assert_eq!(m.push("hello").text, "hello");
        assert_eq!(m.push("").text, "");
        assert_eq!(m.finish(), "");
        // Empty stop strings are ignored, and indices still count them.
        let mut m = StopStrings::new(["", "x"]);
        assert_eq!(m.push("ab").text, "ab");
        assert_eq!(
            m.push("cxd"),
            Pushed {
                text: "c".into(),
                stop: Some(1)
            }
        );
    }

    #[test]
    fn holds_back_a_possible_start_and_releases_it_when_it_is_not() {
        let mut m = StopStrings::new(["</s>"]);
        assert_eq!(m.push("Hello <").text, "Hello ");
        assert_eq!(m.push("/").text, "");
        // "</b" is not the start of "</s>".
        assert_eq!(m.push("b>").text, "</b>");
        assert_eq!(m.push(" x<").text, " x");
        assert_eq!(m.finish(), "<");
        assert_eq!(m.matched(), None);
    }

    #[test]
    fn a_stop_string_spanning_pieces_is_cut_with_what_follows() {
        let mut m = StopStrings::new(["\nUser:"]);
        assert_eq!(m.push("Sure.\n").text, "Sure.");
        assert_eq!(m.push("Us").text, "");
        assert_eq!(
            m.push("er: more"),
            Pushed {
                text: String::new(),
                stop: Some(0)
            }
        );
        assert_eq!(m.matched(), Some(0));
        // After the match nothing more comes out.
        assert_eq!(m.push("again").text, "");
        assert_eq!(m.push("again").stop, Some(0));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn stop_inside_one_piece() {
        assert_eq!(
            run(&["END"], &["abcENDdef"]),
            ("abc".into(), Some(0), Some(0))
        );
        assert_eq!(run(&["END"], &["END"]), ("".into(), Some(0), Some(0)));
    }

    #[test]
    fn multi_byte_chars_are_never_split() {
        // "é" is 2 bytes and "€" 3; "è" (C3 A8) shares its first byte with "é" (C3 A9).
        let mut m = StopStrings::new(["é€"]);
        assert_eq!(m.push("naïve è").text, "naïve è");
        assert_eq!(m.push("é").text, "");
        assert_eq!(m.push("è").text, "éè");
        assert_eq!(
            m.push("xé€y"),
            Pushed {
                text: "x".into(),
                stop: Some(0)
            }
        );
        // Emojis (4 bytes) across pieces.
        assert_eq!(
            run(&["😀!"], &["a😀", "😀", "!b"]),
            ("a😀".into(), Some(0), Some(2))
        );
    }

    #[test]
    fn overlapping_stop_strings_report_the_first_complete() {
        // Both could start at "ab"; "abc" completes first.
        assert_eq!(
            run(&["abd", "abc"], &["x", "a", "b", "c"]),
            ("x".into(), Some(1), Some(3))
        );
        // "abc" starts earlier than "bcd" and completes earlier.
        assert_eq!(
            run(&["bcd", "abc"], &["xab", "cd"]),
            ("x".into(), Some(1), Some(1))
        );
        // Same end: the longer (earlier starting) one wins, in one piece or many.
        assert_eq!(
            run(&["bc", "abc"], &["xabc"]),
            ("x".into(), Some(1), Some(0))
        );
        assert_eq!(
            run(&["bc", "abc"], &["xa", "b", "c"]),
            ("x".into(), Some(1), Some(2))
        );
        // Identical stop strings: the first in the list.
        assert_eq!(run(&["z", "z"], &["az"]), ("a".into(), Some(0), Some(0)));
        // One inside another: the inner one completes first and stops generation.
        assert_eq!(
            run(&["abcd", "bc"], &["abcd"]),
            ("a".into(), Some(1), Some(0))
        );
        // A stop string that is a prefix of another: the short one completes first.
        assert_eq!(run(&["ab", "a"], &["xab"]), ("x".into(), Some(1), Some(0)));
    }

    #[test]
    fn hold_back_is_bounded_by_the_longest_stop_string() {
        // Text that keeps almost matching must still flow.
        let mut m = StopStrings::new(["aaab"]);
        let mut out = String::new();
        for _ in 0..100 {
            out += &m.push("a").text;
            assert!(m.held.len() <= 3);
        }
        assert_eq!(out.len(), 97);
        out += &m.finish();
        assert_eq!(out, "a".repeat(100));
    }

    /// The stop: of all occurrences of all (non-empty) stop strings in the whole text,
    /// the one ending first, then starting first, then first in the list.
    fn reference(text: &str, stops: &[&str]) -> Option<(usize, usize, usize)> {
        let mut best = None;
        for (i, s) in stops.iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            for (at, _) in text.match_indices(s) {
                let c = (at + s.len(), at, i);
                if best.is_none_or(|b| c < b) {
                    best = Some(c);
                }
            }
        }
        best
    }

    #[test]
    fn random_splits_agree_with_searching_the_whole_text() {
        let chars = ['a', 'b', 'c', 'é', '€', '😀'];
        let mut rng = SplitMix64::new(21);
        let mut pick = |n: usize| (rng.next_u64() % n as u64) as usize;
        for case in 0..20_000 {
            let text: String = (0..pick(24)).map(|_| chars[pick(chars.len())]).collect();
            let stop_owned: Vec<String> = (0..pick(5))
                .map(|_| {
                    // Often a piece of the text, so that matches happen.
                    let from_text = pick(2) == 0 && !text.is_empty();
                    let len = pick(5);
                    if from_text {
                        let cs: Vec<char> = text.chars().collect();
                        let at = pick(cs.len());
                        cs[at..(at + len).min(cs.len())].iter().collect()
                    } else {
                        (0..len).map(|_| chars[pick(chars.len())]).collect()
                    }
                })
                .collect();
            let stops: Vec<&str> = stop_owned.iter().map(String::as_str).collect();
            // Cut at random char boundaries, empty pieces included.
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let mut cuts: Vec<usize> = (0..pick(8)).map(|_| bounds[pick(bounds.len())]).collect();
            cuts.extend([0, text.len()]);
            cuts.sort_unstable();
            let pieces: Vec<&str> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();

            let ctx = format!("case {case}: text {text:?}, stops {stops:?}, pieces {pieces:?}");
            let mut m = StopStrings::new(stops.iter().copied());
            let mut out = String::new();
            let mut consumed = 0;
            let mut stopped = None;
            for p in &pieces {
                let before = consumed;
                consumed += p.len();
                let r = m.push(p);
                out += &r.text;
                if let Some(i) = r.stop {
                    stopped = Some((before, consumed, i));
                    break;
                }
                // Nothing held back that could not begin a stop string: the held
                // text is the longest suffix of what came in that starts one.
                let seen = &text[..consumed];
                let want_held = (0..=seen.len())
                    .filter(|&k| seen.is_char_boundary(k))
                    .find(|&k| {
                        k == seen.len()
                            || stops
                                .iter()
                                .any(|s| !s.is_empty() && s.starts_with(&seen[k..]))
                    })
                    .unwrap();
                assert_eq!(out, &seen[..want_held], "{ctx}");
            }
            out += &m.finish();
            match reference(&text, &stops) {
                Some((end, at, i)) => {
                    assert_eq!(out, &text[..at], "{ctx}");
                    let (before, consumed, got) = stopped.expect(&ctx);
                    assert_eq!(got, i, "{ctx}");
                    // Reported by the very piece that completed it.
                    assert!(before < end && end <= consumed, "{ctx}");
                }
                None => {
                    assert_eq!(out, text, "{ctx}");
                    assert_eq!(stopped, None, "{ctx}");
                }
            }
            // Where no stop string lies inside another, that is also simply the
            // earliest occurrence.
            let nested = stops.iter().enumerate().any(|(i, a)| {
                !a.is_empty()
                    && stops
                        .iter()
                        .enumerate()
                        .any(|(j, b)| i != j && b.len() > a.len() && b.contains(a))
            });
            if !nested {
                let earliest = stops
                    .iter()
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| text.find(s))
                    .min();
                assert_eq!(out, &text[..earliest.unwrap_or(text.len())], "{ctx}");
            }
        }
    }
}
