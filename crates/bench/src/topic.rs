//! Topic pattern matching, written independently of the broker's router so that the
//! `bindings` scenario can check every delivery against its queue's bindings: words are
//! separated by `.`, `*` matches exactly one word, `#` zero or more. Matching allocates
//! nothing: the key is cut word by word as the pattern is walked.

#[derive(Debug, Clone)]
pub struct Pattern {
    words: Vec<Box<[u8]>>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        Pattern {
            words: pattern.split('.').map(|w| w.as_bytes().into()).collect(),
        }
    }

    pub fn matches(&self, key: &[u8]) -> bool {
        match_words(&self.words, Some(key))
    }
}

/// `key`: the words not consumed yet; `None` when there are none (an empty key is one
/// empty word, as in RabbitMQ).
fn match_words(pattern: &[Box<[u8]>], key: Option<&[u8]>) -> bool {
    match pattern.split_first() {
        None => key.is_none(),
        Some((word, rest)) if **word == *b"#" => {
            match_words(rest, key) || key.is_some_and(|k| match_words(pattern, split(k).1))
        }
        Some((word, rest)) => key.is_some_and(|k| {
            let (first, tail) = split(k);
            (**word == *b"*" || **word == *first) && match_words(rest, tail)
        }),
    }
}

fn split(key: &[u8]) -> (&[u8], Option<&[u8]>) {
    match key.iter().position(|&b| b == b'.') {
        Some(i) => (&key[..i], Some(&key[i + 1..])),
        None => (key, None),
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn matches(pattern: &str, key: &[u8]) -> bool {
        Pattern::new(pattern).matches(key)
    }

    #[test]
    fn wildcards() {
        assert!(matches("calls.#", b"calls.call.created"));
        assert!(matches("calls.#", b"calls"));
        assert!(matches("#", b"anything.at.all"));
        assert!(matches("#", b""));
        assert!(matches(
            "config.users.*.#",
            b"config.users.abc.forwards.busy.updated"
        ));
        assert!(matches("*.call.*", b"calls.call.created"));
        assert!(!matches("*.call.*", b"calls.call"));
        assert!(!matches("calls.*", b"calls.call.created"));
        assert!(!matches("config.users.u1.#", b"config.users.u2.services"));
        assert!(matches("a.#.z", b"a.z"));
        assert!(matches("a.#.z", b"a.b.c.z"));
        assert!(!matches("a.#.z", b"a.b.c"));
        assert!(matches("a.*", b"a."), "an empty word is a word");
    }
}
