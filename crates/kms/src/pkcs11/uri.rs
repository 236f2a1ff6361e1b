//! RFC 7512 `pkcs11:` URIs: the grammar of §2.3, percent-decoding, and nothing else.
//!
//! The parser accepts every URI the grammar allows (the examples of RFC 7512 §3 are its unit
//! tests); what cachet then *does* with the attributes (which it refuses: `pin-value`,
//! `module-name`, vendor attributes) is decided by [`Pkcs11Uri::for_master_key`] and the signer.
//! The input is operator input (a flag, a bundle header), never network input, but a malformed
//! URI is still a clear [`UriError`], never a panic.

use std::fmt;
use std::path::PathBuf;

/// Why a `pkcs11:` URI was refused; Display names the attribute and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriError(pub String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UriError {}

fn err<T>(msg: impl Into<String>) -> Result<T, UriError> {
    Err(UriError(msg.into()))
}

/// The object classes of the `type` attribute (RFC 7512 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    /// `public`: `CKO_PUBLIC_KEY`.
    Public,
    /// `private`: `CKO_PRIVATE_KEY`.
    Private,
    /// `cert`: `CKO_CERTIFICATE`.
    Cert,
    /// `secret-key`: `CKO_SECRET_KEY`.
    SecretKey,
    /// `data`: `CKO_DATA`.
    Data,
}

/// A parsed `pkcs11:` URI. Text attributes are percent-decoded UTF-8; `id` is raw bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label (`CK_TOKEN_INFO.label`).
    pub token: Option<String>,
    /// `manufacturer`: `CK_TOKEN_INFO.manufacturerID`.
    pub manufacturer: Option<String>,
    /// `serial`: `CK_TOKEN_INFO.serialNumber`.
    pub serial: Option<String>,
    /// `model`: `CK_TOKEN_INFO.model`.
    pub model: Option<String>,
    /// `object`: the object's `CKA_LABEL`.
    pub object: Option<String>,
    /// `id`: the object's `CKA_ID` (bytes).
    pub id: Option<Vec<u8>>,
    /// `type`: the object class.
    pub object_type: Option<ObjectType>,
    /// `slot-id`: the slot number.
    pub slot_id: Option<u64>,
    /// `slot-description`, `slot-manufacturer`, `library-manufacturer`, `library-description`,
    /// `library-version`: parsed and kept, in the order given (cachet does not match on them).
    pub other_path: Vec<(String, String)>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `module-name`: a module name for a registry such as p11-kit's (cachet refuses it).
    pub module_name: Option<String>,
    /// `pin-source`: where the PIN is read from, as given (cachet takes `file:` only).
    pub pin_source: Option<String>,
    /// `pin-value`: the PIN itself (cachet refuses it: a PIN never goes on argv).
    pub has_pin_value: bool,
    /// Vendor-specific attributes (path and query), in the order given.
    pub vendor: Vec<(String, String)>,
}

/// Path attributes whose value is text; `id`, `type`, `slot-id`, `library-version` have their
/// own syntax.
const TEXT_PATH_ATTRS: [&str; 9] = [
    "token",
    "manufacturer",
    "serial",
    "model",
    "object",
    "slot-description",
    "slot-manufacturer",
    "library-manufacturer",
    "library-description",
];

const QUERY_ATTRS: [&str; 4] = ["pin-source", "pin-value", "module-name", "module-path"];

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI (RFC 7512 §2.3). The scheme is matched without regard to case
    /// (RFC 3986 §3.1); attribute names are matched exactly.
    ///
    /// # Errors
    /// A [`UriError`] naming the offending attribute or character.
    pub fn parse(given: &str) -> Result<Self, UriError> {
        let Some(scheme) = given.get(..7) else {
            return err("a PKCS#11 URI starts with pkcs11:");
        };
        if !scheme.eq_ignore_ascii_case("pkcs11:") {
            return err("a PKCS#11 URI starts with pkcs11:");
        }
        let rest = &given[7..];
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if let Some(c) = rest.chars().find(|&c| c == '#') {
            return err(format!(
                "{c:?} is not allowed in a PKCS#11 URI (RFC 7512 §2.3 has no fragment)"
            ));
        }
        let mut uri = Self::default();
        let mut seen: Vec<String> = Vec::new();
        if !path.is_empty() {
            for attr in path.split(';') {
                let (name, raw) = split_attr(attr, "path")?;
                if QUERY_ATTRS.contains(&name) {
                    return err(format!(
                        "{name} is a query attribute: write it after '?' (RFC 7512 §2.3)"
                    ));
                }
                check_chars(raw, name, Component::Path)?;
                once(&mut seen, name)?;
                uri.set_path_attr(name, raw)?;
            }
        }
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            for attr in query.split('&') {
                let (name, raw) = split_attr(attr, "query")?;
                check_chars(raw, name, Component::Query)?;
                once(&mut seen, name)?;
                uri.set_query_attr(name, raw)?;
            }
        }
        Ok(uri)
    }

    fn set_path_attr(&mut self, name: &str, raw: &str) -> Result<(), UriError> {
        match name {
            "id" => self.id = Some(decode(raw, name)?),
            "type" => {
                self.object_type = Some(match decode_text(raw, name)?.as_str() {
                    "public" => ObjectType::Public,
                    "private" => ObjectType::Private,
                    "cert" => ObjectType::Cert,
                    "secret-key" => ObjectType::SecretKey,
                    "data" => ObjectType::Data,
                    other => {
                        return err(format!(
                            "type={other:?}: expected public, private, cert, secret-key or data (RFC 7512 §2.3)"
                        ));
                    }
                });
            }
            "slot-id" => {
                let text = decode_text(raw, name)?;
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return err(format!("slot-id={text:?}: expected decimal digits"));
                }
                self.slot_id = Some(
                    text.parse()
                        .map_err(|_| UriError(format!("slot-id={text}: too large")))?,
                );
            }
            "library-version" => {
                let text = decode_text(raw, name)?;
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                let ok = match text.split_once('.') {
                    Some((major, minor)) => digits(major) && digits(minor),
                    None => digits(&text),
                };
                if !ok {
                    return err(format!(
                        "library-version={text:?}: expected MAJOR or MAJOR.MINOR in digits"
                    ));
                }
                self.other_path.push((name.to_owned(), text));
            }
            _ if TEXT_PATH_ATTRS.contains(&name) => {
                let text = decode_text(raw, name)?;
                match name {
                    "token" => self.token = Some(text),
                    "manufacturer" => self.manufacturer = Some(text),
                    "serial" => self.serial = Some(text),
                    "model" => self.model = Some(text),
                    "object" => self.object = Some(text),
                    _ => self.other_path.push((name.to_owned(), text)),
                }
            }
            _ => self.vendor.push((name.to_owned(), decode_text(raw, name)?)),
        }
        Ok(())
    }

    fn set_query_attr(&mut self, name: &str, raw: &str) -> Result<(), UriError> {
        match name {
            "pin-value" => self.has_pin_value = true,
            "pin-source" => self.pin_source = Some(decode_text(raw, name)?),
            "module-name" => self.module_name = Some(decode_text(raw, name)?),
            "module-path" => {
                let text = decode_text(raw, name)?;
                if !text.starts_with('/') {
                    return err(format!(
                        "module-path={text:?} is not an absolute path: a relative one would depend on the working directory"
                    ));
                }
                self.module_path = Some(PathBuf::from(text));
            }
            _ if name == "id"
                || name == "type"
                || name == "slot-id"
                || name == "library-version"
                || TEXT_PATH_ATTRS.contains(&name) =>
            {
                return err(format!(
                    "{name} is a path attribute: write it before '?' (RFC 7512 §2.3)"
                ));
            }
            _ => self.vendor.push((name.to_owned(), decode_text(raw, name)?)),
        }
        Ok(())
    }

    /// The PIN file named by `pin-source=file:PATH` (`file:/abs` or `file:///abs`).
    ///
    /// # Errors
    /// When `pin-source` is absent, not a `file:` URI, or not an absolute path.
    pub fn pin_file(&self) -> Result<PathBuf, UriError> {
        let Some(source) = &self.pin_source else {
            return err(
                "no pin-source: add ?pin-source=file:/path/to/pin (a file of mode 0600 or 0400 holding the user PIN)",
            );
        };
        let Some(path) = source.strip_prefix("file:") else {
            return err(format!(
                "pin-source={source:?}: cachet reads a PIN only from a file, as pin-source=file:/path/to/pin"
            ));
        };
        let path = path.strip_prefix("//").unwrap_or(path);
        if !path.starts_with('/') {
            return err(format!(
                "pin-source={source:?}: the PIN file must be an absolute path (file:/path/to/pin)"
            ));
        }
        Ok(PathBuf::from(path))
    }

    /// Checks that this URI can name a master key (or a signing key) for cachet: the attributes
    /// cachet would otherwise have to ignore are refused, and a key is named.
    ///
    /// # Errors
    /// A [`UriError`] saying which attribute is refused and what to write instead.
    pub fn check_for_key(&self, wanted: ObjectType) -> Result<(), UriError> {
        if self.has_pin_value {
            return err(
                "pin-value puts the PIN on the command line and in the bundle header: use pin-source=file:/path/to/pin",
            );
        }
        if let Some(name) = &self.module_name {
            return err(format!(
                "module-name={name:?}: cachet loads modules by path only: use module-path=/path/to/module.so or --pkcs11-module"
            ));
        }
        if let Some((name, _)) = self.vendor.first() {
            return err(format!(
                "vendor attribute {name:?}: cachet does not know what it means, and will not ignore it"
            ));
        }
        if let Some((name, _)) = self.other_path.first() {
            return err(format!(
                "{name}: cachet selects tokens by token, manufacturer, serial, model and slot-id only"
            ));
        }
        if let Some(found) = self.object_type.filter(|&t| t != wanted) {
            return err(format!(
                "type={}: this key must be type={}",
                found.name(),
                wanted.name()
            ));
        }
        if self.object.is_none() && self.id.is_none() {
            return err("name the key: add object=LABEL or id=%XX… to the path");
        }
        self.pin_file()?;
        Ok(())
    }
}

impl ObjectType {
    /// The attribute value (`secret-key`, `private`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Cert => "cert",
            Self::SecretKey => "secret-key",
            Self::Data => "data",
        }
    }
}

fn split_attr<'a>(attr: &'a str, component: &str) -> Result<(&'a str, &'a str), UriError> {
    let Some((name, value)) = attr.split_once('=') else {
        return if attr.is_empty() {
            err(format!(
                "an empty {component} attribute (a doubled or trailing separator)"
            ))
        } else {
            err(format!(
                "{component} attribute {attr:?} has no '=': expected NAME=VALUE"
            ))
        };
    };
    // pk11-v-attr-nm-char = ALPHA / DIGIT / "-" / "_" (the standard names fit it too).
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return err(format!(
            "attribute name {name:?}: expected letters, digits, '-' or '_' (RFC 7512 §2.3)"
        ));
    }
    Ok((name, value))
}

fn once(seen: &mut Vec<String>, name: &str) -> Result<(), UriError> {
    if seen.iter().any(|s| s == name) {
        return err(format!(
            "{name} appears twice: cachet refuses to guess which one was meant"
        ));
    }
    seen.push(name.to_owned());
    Ok(())
}

#[derive(Clone, Copy)]
enum Component {
    Path,
    Query,
}

/// RFC 7512 §2.3: pk11-pchar / pk11-qchar = unreserved / pk11-res-avail / pct-encoded, plus
/// "&" in the path and "/" "?" "|" in the query.
fn check_chars(raw: &str, name: &str, component: Component) -> Result<(), UriError> {
    for c in raw.chars() {
        let ok = c.is_ascii_alphanumeric()
            || "-._~:[]@!$'()*+,=%".contains(c)
            || match component {
                Component::Path => c == '&',
                Component::Query => "/?|".contains(c),
            };
        if !ok {
            return err(format!(
                "{name}: character {c:?} must be percent-encoded (RFC 7512 §2.3)"
            ));
        }
    }
    Ok(())
}

fn decode(raw: &str, name: &str) -> Result<Vec<u8>, UriError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&b| (b as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                return err(format!(
                    "{name}: '%' must be followed by two hex digits (RFC 3986 §2.1)"
                ));
            };
            let byte = (hi * 16 + lo) as u8;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(raw: &str, name: &str) -> Result<String, UriError> {
    String::from_utf8(decode(raw, name)?)
        .map_err(|_| UriError(format!("{name}: the percent-decoded value is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7512 §3, every example, with what each one says.
    #[test]
    fn parses_every_example_of_rfc7512_section_3() {
        let u = Pkcs11Uri::parse("pkcs11:").unwrap();
        assert_eq!(u, Pkcs11Uri::default());

        let u = Pkcs11Uri::parse("pkcs11:object=my-pubkey;type=public").unwrap();
        assert_eq!(u.object.as_deref(), Some("my-pubkey"));
        assert_eq!(u.object_type, Some(ObjectType::Public));

        let u = Pkcs11Uri::parse("pkcs11:object=my-key;type=private?pin-source=file:/etc/token")
            .unwrap();
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(u.pin_source.as_deref(), Some("file:/etc/token"));
        assert_eq!(u.pin_file().unwrap(), PathBuf::from("/etc/token"));

        let u = Pkcs11Uri::parse(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(u.model.as_deref(), Some("1.0"));
        assert_eq!(u.object.as_deref(), Some("my-certificate"));
        assert_eq!(u.object_type, Some(ObjectType::Cert));
        assert_eq!(
            u.id.as_deref(),
            Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..])
        );
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.pin_file().unwrap(), PathBuf::from("/etc/token_pin"));

        let u = Pkcs11Uri::parse("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11")
            .unwrap();
        assert_eq!(u.module_name.as_deref(), Some("mypkcs11"));

        let u = Pkcs11Uri::parse(
            "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
        )
        .unwrap();
        assert_eq!(
            u.module_path.as_deref(),
            Some(std::path::Path::new("/mnt/libmypkcs11.so.1"))
        );

        let u = Pkcs11Uri::parse(
            "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("Software PKCS#11 softtoken"));
        assert!(u.has_pin_value);

        let u = Pkcs11Uri::parse("pkcs11:slot-description=Sun%20Metaslot").unwrap();
        assert_eq!(
            u.other_path,
            [("slot-description".to_owned(), "Sun Metaslot".to_owned())]
        );

        let u = Pkcs11Uri::parse(
            "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
        )
        .unwrap();
        assert_eq!(
            u.other_path,
            [
                (
                    "library-manufacturer".to_owned(),
                    "Snake Oil, Inc.".to_owned()
                ),
                (
                    "library-description".to_owned(),
                    "Soft Token Library".to_owned()
                ),
                ("library-version".to_owned(), "1.23".to_owned()),
            ]
        );

        let u = Pkcs11Uri::parse(
            "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("My token% created by Joe"));
        assert_eq!(
            u.id.as_deref(),
            Some(&[1, 2, 3, 0xba, 0xdd, 0xca, 0xfe, 4, 5, 6][..])
        );

        let u = Pkcs11Uri::parse(
            "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("A name with a substring %;"));

        let u = Pkcs11Uri::parse(
            "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
        )
        .unwrap();
        assert_eq!(
            u.token.as_deref(),
            Some("Name with a small A with acute: \u{e1}")
        );

        let u = Pkcs11Uri::parse(
            "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
        )
        .unwrap();
        assert_eq!(
            u.vendor,
            [
                ("vendor-aaa".to_owned(), "value-a".to_owned()),
                ("vendor-bbb".to_owned(), "value-b".to_owned()),
            ]
        );
    }

    #[test]
    fn parses_the_issue_example() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=cachet;object=cachet-master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/cachet/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("cachet"));
        assert_eq!(u.object.as_deref(), Some("cachet-master"));
        assert_eq!(
            u.module_path,
            Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(u.pin_file().unwrap(), PathBuf::from("/etc/cachet/pin"));
        u.check_for_key(ObjectType::SecretKey).unwrap();
        // file:///abs is the same file.
        let u = Pkcs11Uri::parse("pkcs11:object=k?pin-source=file:///etc/pin").unwrap();
        assert_eq!(u.pin_file().unwrap(), PathBuf::from("/etc/pin"));
    }

    /// Every malformed form is a clear error naming what is wrong.
    #[test]
    fn refuses_malformed_uris_with_a_reason() {
        let cases = [
            ("", "starts with pkcs11:"),
            ("pkcs1", "starts with pkcs11:"),
            ("http://x", "starts with pkcs11:"),
            ("pkcs11:token", "has no '='"),
            ("pkcs11:token=a;;object=b", "empty path attribute"),
            ("pkcs11:token=a;", "empty path attribute"),
            ("pkcs11:?pin-source=file:/p&", "empty query attribute"),
            ("pkcs11:token=a;token=b", "token appears twice"),
            ("pkcs11:token=a%2", "two hex digits"),
            ("pkcs11:token=a%zz", "two hex digits"),
            ("pkcs11:token=a%+1", "two hex digits"),
            ("pkcs11:token=a b", "must be percent-encoded"),
            ("pkcs11:token=a/b", "must be percent-encoded"),
            ("pkcs11:token=a#b", "no fragment"),
            ("pkcs11:token=\u{e1}", "must be percent-encoded"),
            ("pkcs11:token=%C3", "not UTF-8"),
            ("pkcs11:type=secret", "expected public, private"),
            ("pkcs11:slot-id=x1", "decimal digits"),
            ("pkcs11:slot-id=99999999999999999999999", "too large"),
            ("pkcs11:library-version=1.", "MAJOR.MINOR"),
            ("pkcs11:pin-source=file:/p", "query attribute"),
            ("pkcs11:?object=k", "path attribute"),
            ("pkcs11:?module-path=lib.so", "not an absolute path"),
            ("pkcs11:t%41ken=x", "attribute name"),
            ("pkcs11:=x", "attribute name"),
        ];
        for (bad, why) in cases {
            let e = Pkcs11Uri::parse(bad).expect_err(bad);
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_what_cachet_would_ignore_for_a_key() {
        let cases = [
            ("pkcs11:object=k?pin-value=1234", "pin-value"),
            (
                "pkcs11:object=k?module-name=softhsm2&pin-source=file:/p",
                "by path only",
            ),
            (
                "pkcs11:object=k;vendor-x=1?pin-source=file:/p",
                "vendor attribute",
            ),
            (
                "pkcs11:object=k;library-version=1?pin-source=file:/p",
                "library-version",
            ),
            (
                "pkcs11:object=k;type=private?pin-source=file:/p",
                "type=secret-key",
            ),
            ("pkcs11:token=t?pin-source=file:/p", "object=LABEL or id"),
            ("pkcs11:object=k", "no pin-source"),
            ("pkcs11:object=k?pin-source=%7C/bin/pin", "only from a file"),
            ("pkcs11:object=k?pin-source=file:pin", "absolute path"),
        ];
        for (given, why) in cases {
            let e = Pkcs11Uri::parse(given)
                .unwrap()
                .check_for_key(ObjectType::SecretKey)
                .expect_err(given);
            assert!(e.0.contains(why), "{given}: {e}");
        }
    }

    proptest::proptest! {
        /// Operator input: any string is a URI or an error, never a panic.
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = Pkcs11Uri::parse(&s);
            let _ = Pkcs11Uri::parse(&format!("pkcs11:{s}"));
        }

        /// Percent-encoding any bytes as an id gives those bytes back.
        #[test]
        fn id_round_trips(id in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let encoded: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            let u = Pkcs11Uri::parse(&format!("pkcs11:id={encoded};object=x")).unwrap();
            proptest::prop_assert_eq!(u.id, Some(id));
        }

        /// URIs made of the grammar's own characters parse or fail cleanly.
        #[test]
        fn grammar_shaped_inputs_never_panic(s in "[a-z=;?&%0-9A-F:/|.-]{0,40}") {
            if let Ok(u) = Pkcs11Uri::parse(&format!("pkcs11:{s}")) {
                let _ = u.check_for_key(ObjectType::SecretKey);
            }
        }
    }
}
