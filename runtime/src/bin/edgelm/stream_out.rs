//! Generated tokens to text as they come: whole UTF-8 characters only, held back while
//! they could still be the start of a stop string, and the stop string itself never
//! shown.

use std::io::Write;
use std::ops::ControlFlow;

use edgelm_runtime::stop::StopStrings;
use edgelm_runtime::tokenizer::TextStream;

pub struct StreamOut {
    utf8: TextStream,
    stops: StopStrings,
    /// Everything released so far (the answer's text, without the stop string).
    pub text: String,
    /// Write released text to stdout as it comes (off for --json).
    print: bool,
}

impl StreamOut {
    pub fn new(stops: &[String], print: bool) -> StreamOut {
        StreamOut {
            utf8: TextStream::default(),
            stops: StopStrings::new(stops.iter().cloned()),
            text: String::new(),
            print,
        }
    }

    /// Takes one token's bytes; `Break` once a stop string has appeared.
    pub fn push(&mut self, bytes: &[u8]) -> ControlFlow<()> {
        let piece = self.utf8.push(bytes);
        let pushed = self.stops.push(&piece);
        self.emit(&pushed.text);
        match pushed.stop {
            Some(_) => ControlFlow::Break(()),
            None => ControlFlow::Continue(()),
        }
    }

    /// Ends the stream: what was held back (an unfinished character, the start of a
    /// stop string that never completed) is released.
    pub fn finish(&mut self) {
        if self.stops.matched().is_some() {
            return;
        }
        let tail = self.utf8.finish();
        let mut rest = self.stops.push(&tail).text;
        if self.stops.matched().is_none() {
            rest += &self.stops.finish();
        }
        self.emit(&rest);
    }

    /// The stop string that ended the answer, if one did.
    pub fn matched(&self) -> Option<&str> {
        self.stops
            .matched()
            .map(|i| self.stops.strings()[i].as_str())
    }

    fn emit(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        self.text.push_str(s);
        if self.print {
            let mut out = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) must not abort the run.
            let _ = out.write_all(s.as_bytes());
            let _ = out.flush();
        }
    }
}
