//! `ShortStr`: an AMQP short string (at most 255 bytes), kept as `Bytes` so that names and
//! routing keys cut from a frame are views into it, not copies.

use std::borrow::Borrow;
use std::fmt;

use bytes::Bytes;

/// A short string: up to 255 bytes, not necessarily UTF-8.
///
/// The 255-byte limit is enforced by the decoder (the length is one octet) and by
/// [`ShortStr::try_from_bytes`]; `From<&'static str>` is for literals written in our code.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShortStr(Bytes);

/// The longest short string the wire can carry.
pub const SHORT_STR_MAX_LEN: usize = 255;

impl ShortStr {
    pub const fn from_static(s: &'static str) -> Self {
        ShortStr(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps `bytes`, or gives them back when they are too long for a short string.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, Bytes> {
        if bytes.len() <= SHORT_STR_MAX_LEN {
            Ok(ShortStr(bytes))
        } else {
            Err(bytes)
        }
    }

    /// Wraps `bytes` that the caller knows are at most 255 bytes long (a decoder has checked).
    pub(crate) fn from_bytes_unchecked(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() <= SHORT_STR_MAX_LEN);
        ShortStr(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A copy that owns its bytes. A decoded string is a view into its frame's buffer, which
    /// is fine for a message but not for a name kept for hours: it would keep the whole read
    /// buffer it came in alive.
    pub fn detached(&self) -> ShortStr {
        ShortStr(Bytes::copy_from_slice(&self.0))
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The string for logs and messages: invalid UTF-8 is shown with replacement characters.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        self.0.starts_with(prefix)
    }
}

impl From<&'static str> for ShortStr {
    fn from(s: &'static str) -> Self {
        assert!(
            s.len() <= SHORT_STR_MAX_LEN,
            "short string literal too long"
        );
        ShortStr(Bytes::from_static(s.as_bytes()))
    }
}

impl TryFrom<String> for ShortStr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() <= SHORT_STR_MAX_LEN {
            Ok(ShortStr(Bytes::from(s)))
        } else {
            Err(s)
        }
    }
}

impl Borrow<[u8]> for ShortStr {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for ShortStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_string_lossy(), f)
    }
}
