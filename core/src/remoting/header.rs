//! Typed request/response headers: the `CommandHeader` trait, the field conversions, and the
//! `command_header!` macro the header files use to declare them.
//!
//! RocketMQ flattens a request's header struct into the command's extFields, one string per Java
//! field, keyed by the Java field name. A field Java marks `@CFNotNull` must be present; any
//! other wrapper-typed field (`Integer`, `Long`, `Boolean`, `String`) may be absent and is an
//! `Option` here; a primitive `boolean` without `@CFNotNull` reads as `false` when absent.

use super::decimal::{parse_i32, parse_i64};
use super::error::HeaderError;
use super::ext_fields::ExtFields;

/// A typed header that travels in a command's extFields.
pub trait CommandHeader: Sized {
    /// Writes every present field into `fields`, keyed by its Java name.
    fn write_fields(&self, fields: &mut ExtFields);

    /// Reads the header from `fields`. Unknown keys are ignored.
    fn read_fields(fields: &ExtFields) -> Result<Self, HeaderError>;
}

/// A request that needs no header (LOCK_BATCH_MQ, UNLOCK_BATCH_MQ, HEART_BEAT, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmptyHeader;

impl CommandHeader for EmptyHeader {
    fn write_fields(&self, _fields: &mut ExtFields) {}

    fn read_fields(_fields: &ExtFields) -> Result<Self, HeaderError> {
        Ok(EmptyHeader)
    }
}

/// A header field's value on its way into extFields: borrowed text, or a number, written in
/// decimal on the stack as it goes in (no string in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldText<'a> {
    /// The text as it goes on the wire.
    Text(&'a str),
    /// A number, written in decimal as Java's `toString()` does.
    Integer(i64),
}

impl<'a> FieldText<'a> {
    /// The value's text; a number is written in `digits`.
    pub(crate) fn as_str<'b>(self, digits: &'b mut itoa::Buffer) -> &'b str
    where
        'a: 'b,
    {
        match self {
            FieldText::Text(text) => text,
            FieldText::Integer(value) => digits.format(value),
        }
    }
}

/// One header field's conversion to and from its extFields string, as Java's
/// `makeCustomHeaderToNet` (`toString()`) and `decodeCommandCustomHeader` (`parseXxx`) do it.
pub trait HeaderField: Sized {
    /// The value to send, or `None` to leave the key out.
    fn to_field(&self) -> Option<FieldText<'_>>;

    /// Parses a received string.
    fn parse_field(field: &'static str, raw: &str) -> Result<Self, HeaderError>;

    /// The value when the key is absent: an error for required fields.
    fn absent(field: &'static str) -> Result<Self, HeaderError> {
        Err(HeaderError::Missing { field })
    }
}

impl HeaderField for String {
    fn to_field(&self) -> Option<FieldText<'_>> {
        Some(FieldText::Text(self))
    }

    fn parse_field(_field: &'static str, raw: &str) -> Result<Self, HeaderError> {
        Ok(raw.to_owned())
    }
}

impl HeaderField for i32 {
    fn to_field(&self) -> Option<FieldText<'_>> {
        Some(FieldText::Integer(i64::from(*self)))
    }

    /// As `str::parse` (Java's `Integer.parseInt` accepts the same text).
    fn parse_field(field: &'static str, raw: &str) -> Result<Self, HeaderError> {
        parse_i32(raw).ok_or_else(|| HeaderError::invalid(field, raw))
    }
}

impl HeaderField for i64 {
    fn to_field(&self) -> Option<FieldText<'_>> {
        Some(FieldText::Integer(*self))
    }

    /// As `str::parse` (Java's `Long.parseLong` accepts the same text).
    fn parse_field(field: &'static str, raw: &str) -> Result<Self, HeaderError> {
        parse_i64(raw).ok_or_else(|| HeaderError::invalid(field, raw))
    }
}

impl HeaderField for bool {
    fn to_field(&self) -> Option<FieldText<'_>> {
        Some(FieldText::Text(if *self { "true" } else { "false" }))
    }

    /// Java writes `true`/`false`; case is ignored as `Boolean.parseBoolean` does, but anything
    /// else is rejected instead of silently read as false.
    fn parse_field(field: &'static str, raw: &str) -> Result<Self, HeaderError> {
        if raw.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if raw.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(HeaderError::invalid(field, raw))
        }
    }
}

impl<T: HeaderField> HeaderField for Option<T> {
    fn to_field(&self) -> Option<FieldText<'_>> {
        self.as_ref().and_then(T::to_field)
    }

    fn parse_field(field: &'static str, raw: &str) -> Result<Self, HeaderError> {
        T::parse_field(field, raw).map(Some)
    }

    fn absent(_field: &'static str) -> Result<Self, HeaderError> {
        Ok(None)
    }
}

/// The positions of `names` in byte order of the names (`str`'s order, `ExtFields`' order),
/// computed at compile time for each header.
pub const fn key_order<const N: usize>(names: &[&str]) -> [usize; N] {
    let mut order = [0usize; N];
    let mut i = 0;
    while i < N {
        order[i] = i;
        i += 1;
    }
    // Insertion sort: a header has a dozen names at most.
    let mut sorted = 1;
    while sorted < N {
        let mut at = sorted;
        while at > 0 && str_less(names[order[at]], names[order[at - 1]]) {
            let swap = order[at];
            order[at] = order[at - 1];
            order[at - 1] = swap;
            at -= 1;
        }
        sorted += 1;
    }
    order
}

/// `names` in byte order, given their `key_order`; fails to compile (a const panic) when a
/// header names a field twice.
pub const fn sorted_names<const N: usize>(names: &[&'static str], order: &[usize; N]) -> [&'static str; N] {
    let mut sorted = [""; N];
    let mut i = 0;
    while i < N {
        sorted[i] = names[order[i]];
        i += 1;
    }
    let mut i = 1;
    while i < N {
        assert!(str_less(sorted[i - 1], sorted[i]), "a header names a field twice");
        i += 1;
    }
    sorted
}

/// `a < b` in byte order, usable in a const context.
const fn str_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// The value of an absent field: the declared default, or the type's own rule.
macro_rules! header_field_absent {
    ($key:literal, $ty:ty) => {
        <$ty as $crate::remoting::header::HeaderField>::absent($key)
    };
    ($key:literal, $ty:ty, $default:expr) => {
        Ok::<$ty, $crate::remoting::error::HeaderError>($default)
    };
}

/// Declares a header struct and its `CommandHeader` impl from a field list:
/// `rust_name: Type => "javaName"`, optionally followed by `or default_value` for a primitive
/// Java field that reads as its default when absent.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $key:literal $(or $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// The Java field names, in declaration order.
            pub const FIELD_NAMES: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::remoting::header::CommandHeader for $name {
            fn write_fields(&self, fields: &mut $crate::remoting::ext_fields::ExtFields) {
                use $crate::remoting::header::{FieldText, HeaderField};
                const NAMES: &[&str] = $name::FIELD_NAMES;
                const COUNT: usize = NAMES.len();
                const SORTED: [usize; COUNT] = $crate::remoting::header::key_order(NAMES);
                const SORTED_NAMES: [&str; COUNT] = $crate::remoting::header::sorted_names(NAMES, &SORTED);
                let texts: [Option<FieldText<'_>>; COUNT] = [$( HeaderField::to_field(&self.$field) ),*];
                // The values in key order, numbers written on the stack, then all in one go.
                let mut digits = [itoa::Buffer::new(); COUNT];
                let mut values: [Option<&str>; COUNT] = [None; COUNT];
                for ((value, at), digits) in values.iter_mut().zip(SORTED).zip(digits.iter_mut()) {
                    *value = texts[at].map(|text| text.as_str(digits));
                }
                fields.insert_sorted(&SORTED_NAMES, &values);
            }

            fn read_fields(
                fields: &$crate::remoting::ext_fields::ExtFields,
            ) -> Result<Self, $crate::remoting::error::HeaderError> {
                use $crate::remoting::header::HeaderField;
                const NAMES: &[&str] = $name::FIELD_NAMES;
                const COUNT: usize = NAMES.len();
                const SORTED: [usize; COUNT] = $crate::remoting::header::key_order(NAMES);
                const SORTED_NAMES: [&str; COUNT] = $crate::remoting::header::sorted_names(NAMES, &SORTED);
                // Every value in one pass along the fields, in declaration order: the first field
                // in that order that fails to parse is the one reported.
                let [$( $field ),*] = fields.get_sorted(&SORTED_NAMES, &SORTED);
                Ok($name {
                    $(
                        $field: match $field {
                            Some(raw) => <$ty as HeaderField>::parse_field($key, raw)?,
                            None => header_field_absent!($key, $ty $(, $default)?)?,
                        },
                    )*
                })
            }
        }

        #[cfg(test)]
        impl $name {
            /// extFields maps as a Java peer would send for this header: every required field,
            /// some optional ones, values in canonical form.
            pub(crate) fn wire_fields_strategy(
            ) -> impl proptest::strategy::Strategy<Value = $crate::remoting::ext_fields::ExtFields> {
                use proptest::strategy::Strategy;
                use $crate::remoting::header::test_support::FieldStrategy;
                let fields: Vec<proptest::strategy::BoxedStrategy<Option<String>>> =
                    vec![$( <$ty as FieldStrategy>::wire(), )*];
                fields.prop_map(|values| {
                    Self::FIELD_NAMES
                        .iter()
                        .zip(values)
                        .filter_map(|(key, value)| value.map(|value| ((*key).to_owned(), value)))
                        .collect()
                })
            }
        }
    };
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Strategies that produce field strings the way Java's `toString()` writes them.

    use proptest::prelude::*;

    use crate::remoting::ext_fields::ExtFields;

    use super::CommandHeader;

    /// Reads a header from `fields` (which must succeed), writes it back, and checks that the
    /// same map comes out: reading loses nothing and writing invents nothing.
    pub(crate) fn wire_round_trip<H: CommandHeader + std::fmt::Debug>(fields: &ExtFields) -> Result<H, TestCaseError> {
        let header = H::read_fields(fields).map_err(|e| TestCaseError::fail(format!("{e} in {fields:?}")))?;
        let mut written = ExtFields::new();
        header.write_fields(&mut written);
        prop_assert_eq!(&written, fields, "{:?}", header);
        Ok(header)
    }

    /// The wire form of one field type, for property tests.
    pub(crate) trait FieldStrategy {
        /// A present value.
        fn present() -> BoxedStrategy<String>;

        /// A value as sent: present for required fields, maybe absent for optional ones.
        fn wire() -> BoxedStrategy<Option<String>> {
            Self::present().prop_map(Some).boxed()
        }
    }

    impl FieldStrategy for String {
        fn present() -> BoxedStrategy<String> {
            any::<String>().boxed()
        }
    }

    impl FieldStrategy for i32 {
        fn present() -> BoxedStrategy<String> {
            any::<i32>().prop_map(|value| value.to_string()).boxed()
        }
    }

    impl FieldStrategy for i64 {
        fn present() -> BoxedStrategy<String> {
            any::<i64>().prop_map(|value| value.to_string()).boxed()
        }
    }

    impl FieldStrategy for bool {
        fn present() -> BoxedStrategy<String> {
            any::<bool>().prop_map(|value| value.to_string()).boxed()
        }
    }

    impl<T: FieldStrategy> FieldStrategy for Option<T> {
        fn present() -> BoxedStrategy<String> {
            T::present()
        }

        fn wire() -> BoxedStrategy<Option<String>> {
            proptest::option::of(T::present()).boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        /// A header using every field kind, for the tests below.
        pub struct SampleHeader {
            /// Required string.
            name: String => "name",
            /// Required number.
            count: i32 => "count",
            /// Optional number.
            limit: Option<i64> => "limit",
            /// Primitive boolean, false when absent.
            flag: bool => "flagOn" or false,
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    proptest::proptest! {
        /// `key_order` lists the names' positions in `str` order (stable for equal names).
        #[test]
        fn key_order_sorts_as_str(names in proptest::collection::vec("[a-cA-C]{0,3}", 6)) {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let order: [usize; 6] = key_order(&names);
            let mut expected: Vec<usize> = (0..6).collect();
            expected.sort_by_key(|&at| names[at]);
            proptest::prop_assert_eq!(order.to_vec(), expected);
        }
    }

    /// Absent optional and defaulted fields read as None/false; unknown keys are ignored.
    #[test]
    fn absent_optional_fields_default() {
        let read = SampleHeader::read_fields(&fields(&[("name", "n"), ("count", "-3"), ("x", "y")]));
        assert_eq!(read, Ok(SampleHeader { name: "n".into(), count: -3, limit: None, flag: false }));
    }

    /// A missing required field is `Missing` with its wire name.
    #[test]
    fn missing_required_field_is_an_error() {
        let read = SampleHeader::read_fields(&fields(&[("name", "n")]));
        assert_eq!(read, Err(HeaderError::Missing { field: "count" }));
    }

    /// A value that does not parse is `Invalid`, for numbers and booleans alike, and a huge bad
    /// value is cut short in the error.
    #[test]
    fn unparsable_values_are_invalid() {
        let read = SampleHeader::read_fields(&fields(&[("name", "n"), ("count", "1.5")]));
        assert_eq!(read, Err(HeaderError::Invalid { field: "count", value: "1.5".into() }));
        let read = SampleHeader::read_fields(&fields(&[("name", "n"), ("count", "1"), ("flagOn", "yes")]));
        assert_eq!(read, Err(HeaderError::Invalid { field: "flagOn", value: "yes".into() }));
        let huge = "9".repeat(1000);
        let read = SampleHeader::read_fields(&fields(&[("name", "n"), ("count", &huge)]));
        let Err(HeaderError::Invalid { value, .. }) = read else { panic!("expected Invalid, got {read:?}") };
        assert_eq!(value.len(), crate::remoting::error::HEADER_ERROR_VALUE_CHARS_MAX);
    }

    proptest::proptest! {
        /// Any map a Java peer could send for the sample header reads and writes back unchanged.
        #[test]
        fn sample_header_round_trips(fields in SampleHeader::wire_fields_strategy()) {
            test_support::wire_round_trip::<SampleHeader>(&fields)?;
        }
    }

    /// Writing leaves out None fields and writes booleans and numbers as Java's toString does.
    #[test]
    fn write_uses_java_text_forms() {
        let header = SampleHeader { name: "n".into(), count: 5, limit: None, flag: true };
        let mut written = ExtFields::new();
        header.write_fields(&mut written);
        assert_eq!(written, fields(&[("name", "n"), ("count", "5"), ("flagOn", "true")]));
        assert_eq!(SampleHeader::FIELD_NAMES, &["name", "count", "limit", "flagOn"]);
        assert_eq!(SampleHeader::read_fields(&written), Ok(header));
    }
}
