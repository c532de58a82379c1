//! The two Python rules Ansible's INI inventory reads values with, so that a value means in
//! runbook what it means in Ansible: a host line is split like `shlex.split(line,
//! comments=True)` (POSIX quoting, `#` starts a comment), and each value is typed like
//! `ast.literal_eval` (`80` is a number, `True` a boolean, `'80'` and `"a b"` text,
//! `[1, 2]` a list, `{'a': 1}` a map; what is not a Python literal stays the text written).

use serde_json::Value;

/// `shlex.split(line, comments=True)`: words split at blanks, `'…'` and `"…"` quoting
/// (a backslash escapes `"` and `\` inside double quotes, any character outside quotes),
/// and a `#` outside quotes ends the line, even inside a word.
pub(super) fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    #[derive(PartialEq)]
    enum State {
        Blank,
        Word,
        Single,
        Double,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut state = State::Blank;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match state {
            State::Blank | State::Word => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if state == State::Word {
                        words.push(std::mem::take(&mut word));
                        quoted = false;
                        state = State::Blank;
                    }
                }
                '#' => break,
                '\'' => {
                    quoted = true;
                    state = State::Single;
                }
                '"' => {
                    quoted = true;
                    state = State::Double;
                }
                '\\' => {
                    let next = chars.next().ok_or("nothing after `\\` at the end of the line")?;
                    word.push(next);
                    state = State::Word;
                }
                c => {
                    word.push(c);
                    state = State::Word;
                }
            },
            State::Single => match c {
                '\'' => state = State::Word,
                c => word.push(c),
            },
            State::Double => match c {
                '"' => state = State::Word,
                '\\' => {
                    let next = chars.next().ok_or("no closing quotation")?;
                    if next != '"' && next != '\\' {
                        word.push('\\');
                    }
                    word.push(next);
                }
                c => word.push(c),
            },
        }
    }
    match state {
        State::Single | State::Double => Err("no closing quotation".into()),
        State::Word => {
            words.push(word);
            Ok(words)
        }
        State::Blank => {
            if quoted {
                words.push(word);
            }
            Ok(words)
        }
    }
}

/// A Python literal, as `ast.literal_eval` reads it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Py {
    None,
    Bool(bool),
    /// An integer; `Err` holds the digits of one too large for a script (beyond 64 bits).
    Int(Result<i64, String>),
    Float(f64),
    /// A complex number (Ansible makes it its Python text, `1j`, `(1+2j)`).
    Complex(f64, f64),
    Str(String),
    /// A list, tuple or set (Ansible makes each of them a list).
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

/// `ast.literal_eval(text)`, or `None` where Python raises (the text is then a string).
/// f-strings and `\N{…}` escapes count as not literals.
pub(super) fn literal_eval(text: &str) -> Option<Py> {
    let text = text.trim_start_matches([' ', '\t']);
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    let v = p.testlist(b'\0')?;
    p.blank();
    if p.peek() == Some(b'#') {
        p.i = p.s.len();
    }
    (p.i == p.s.len()).then_some(v)
}

/// The JSON value of a literal; an error names what no variable can hold.
pub(super) fn to_json(v: Py) -> Result<Value, String> {
    Ok(match v {
        Py::None => Value::Null,
        Py::Bool(b) => Value::Bool(b),
        Py::Int(Ok(i)) => Value::from(i),
        Py::Int(Err(digits)) => {
            return Err(format!(
                "the integer {digits} is out of range (scripts take integers from {} to {})",
                i64::MIN,
                i64::MAX
            ));
        }
        Py::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is a number no variable can hold"))?,
        Py::Complex(re, im) => Value::String(complex_text(re, im)),
        Py::Str(s) => Value::String(s),
        Py::List(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Py::Dict(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| Ok((key_text(k), to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Python's `str()` of a complex number: `1j`, `(1+2j)`, `(-0-1j)`.
fn complex_text(re: f64, im: f64) -> String {
    fn part(f: f64) -> String {
        if f.fract() == 0.0 && f.abs() < 1e16 {
            if f == 0.0 && f.is_sign_negative() {
                "-0".into()
            } else {
                format!("{f:.0}")
            }
        } else if f.abs() >= 1e16 {
            let e = format!("{f:e}");
            if e.contains("e-") { e } else { e.replace('e', "e+") }
        } else {
            f.to_string()
        }
    }
    if re == 0.0 && re.is_sign_positive() {
        return format!("{}j", part(im));
    }
    let sign = if im.is_sign_negative() { "-" } else { "+" };
    format!("({}{sign}{}j)", part(re), part(im.abs()))
}

/// A map key as text (JSON keys are text): Python's spelling of it.
fn key_text(k: Py) -> String {
    match k {
        Py::None => "None".into(),
        Py::Bool(true) => "True".into(),
        Py::Bool(false) => "False".into(),
        Py::Int(Ok(i)) => i.to_string(),
        Py::Int(Err(d)) => d,
        Py::Float(f) => f.to_string(),
        Py::Str(s) => s,
        other => format!("{other:?}"),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    /// Brackets open now: Python's tokenizer refuses more than 200 ("too many nested
    /// parentheses"), so deeper is text, as in Ansible, and never a deep recursion here.
    depth: usize,
}

const MAX_NESTING: usize = 200;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\x0c')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.blank();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `a, b, …` up to `close` (or the end): one value, or a tuple when there is a comma.
    fn testlist(&mut self, close: u8) -> Option<Py> {
        self.blank();
        if close != b'\0' && self.peek() == Some(close) {
            return Some(Py::List(Vec::new()));
        }
        let first = self.expr()?;
        let mut items = vec![first];
        let mut tuple = false;
        while self.eat(b',') {
            tuple = true;
            self.blank();
            match self.peek() {
                None | Some(b'#') => break,
                Some(c) if c == close => break,
                _ => items.push(self.expr()?),
            }
        }
        Some(if tuple { Py::List(items) } else { items.pop()? })
    }

    fn expr(&mut self) -> Option<Py> {
        self.blank();
        if matches!(self.peek(), Some(b'(' | b'[' | b'{')) {
            if self.depth >= MAX_NESTING {
                return None;
            }
            self.depth += 1;
            let v = self.container();
            self.depth -= 1;
            return v;
        }
        match self.peek()? {
            sign @ (b'-' | b'+') => {
                self.i += 1;
                self.blank();
                let n = match self.number()? {
                    Py::Int(Ok(i)) if sign == b'-' => Py::Int(i.checked_neg().ok_or(format!("-{i}"))),
                    Py::Int(Err(d)) if sign == b'-' => Py::Int(Err(format!("-{d}"))),
                    Py::Float(f) if sign == b'-' => Py::Float(-f),
                    Py::Complex(re, im) if sign == b'-' => Py::Complex(-re, -im),
                    n => n,
                };
                self.complex_sum(n)
            }
            b'0'..=b'9' => {
                let n = self.number()?;
                self.complex_sum(n)
            }
            b'.' if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) => {
                let n = self.number()?;
                self.complex_sum(n)
            }
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Py::Str("...".into()))
            }
            b'\'' | b'"' => self.strings(),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.peek().is_some_and(|c| c == b'_' || c.is_ascii_alphanumeric()) {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                if matches!(self.peek(), Some(b'\'' | b'"')) {
                    self.i = start;
                    return self.strings();
                }
                match word {
                    // `set()` is the one call literal_eval takes: an empty set.
                    "set" if self.eat(b'(') => self.eat(b')').then_some(Py::List(Vec::new())),
                    "True" => Some(Py::Bool(true)),
                    "False" => Some(Py::Bool(false)),
                    "None" => Some(Py::None),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `1+2j`, `1.5-2j`: a real number then `+` or `-` an imaginary one (the one sum
    /// literal_eval takes); otherwise the number as it is.
    fn complex_sum(&mut self, n: Py) -> Option<Py> {
        let start = self.i;
        self.blank();
        let sign = match self.peek() {
            Some(b'+') => 1.0,
            Some(b'-') => -1.0,
            _ => {
                self.i = start;
                return Some(n);
            }
        };
        let re = match n {
            Py::Int(Ok(i)) => i as f64,
            Py::Float(f) => f,
            _ => return None,
        };
        self.i += 1;
        self.blank();
        match self.number()? {
            Py::Complex(_, im) => Some(Py::Complex(re, sign * im)),
            _ => None,
        }
    }

    /// A tuple, list, dict or set, at its opening bracket.
    fn container(&mut self) -> Option<Py> {
        match self.peek()? {
            b'(' => {
                self.i += 1;
                self.blank();
                if self.eat(b')') {
                    return Some(Py::List(Vec::new()));
                }
                let first = self.expr()?;
                if self.eat(b')') {
                    return Some(first);
                }
                let mut items = vec![first];
                while self.eat(b',') {
                    if self.eat(b')') {
                        return Some(Py::List(items));
                    }
                    items.push(self.expr()?);
                }
                self.eat(b')').then_some(Py::List(items))
            }
            b'[' => {
                self.i += 1;
                let items = self.items(b']')?;
                Some(Py::List(items))
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            _ => None,
        }
    }

    /// Values separated by commas up to `close`, a trailing comma allowed.
    fn items(&mut self, close: u8) -> Option<Vec<Py>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expr()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Py> {
        if self.eat(b'}') {
            return Some(Py::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if !self.eat(b':') {
            let mut items = vec![first];
            if self.eat(b',') {
                items.extend(self.items(b'}')?);
            } else if !self.eat(b'}') {
                return None;
            }
            let mut set: Vec<Py> = Vec::new();
            for i in items {
                if matches!(i, Py::List(_) | Py::Dict(_)) {
                    return None; // unhashable
                }
                if !set.contains(&i) {
                    set.push(i);
                }
            }
            return Some(Py::List(set));
        }
        let mut pairs: Vec<(Py, Py)> = Vec::new();
        let mut key = first;
        loop {
            if matches!(key, Py::List(_) | Py::Dict(_)) {
                return None;
            }
            let value = self.expr()?;
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(pair) => pair.1 = value,
                None => pairs.push((key, value)),
            }
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Py::Dict(pairs));
            }
            if self.eat(b'}') {
                return Some(Py::Dict(pairs));
            }
            key = self.expr()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }

    /// A number: decimal, `0x`/`0o`/`0b` integers, floats, `_` between digits.
    fn number(&mut self) -> Option<Py> {
        let start = self.i;
        let rest = &self.s[self.i..];
        let radix = match rest {
            [b'0', b'x' | b'X', ..] => 16,
            [b'0', b'o' | b'O', ..] => 8,
            [b'0', b'b' | b'B', ..] => 2,
            _ => 10,
        };
        let value = if radix != 10 {
            self.i += 2;
            let digits = self.digits(|c| (c as char).is_digit(radix), true)?;
            Py::Int(i64::from_str_radix(&digits, radix).map_err(|_| self.text[start..self.i].to_string()))
        } else {
            let int_part = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                Some(self.digits(|c| c.is_ascii_digit(), false)?)
            } else {
                None
            };
            let mut float = false;
            if self.peek() == Some(b'.') {
                float = true;
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.digits(|c| c.is_ascii_digit(), false)?;
                } else if int_part.is_none() {
                    return None;
                }
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                float = true;
                self.i += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.i += 1;
                }
                if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
                self.digits(|c| c.is_ascii_digit(), false)?;
            }
            let written = self.text[start..self.i].replace('_', "");
            if float {
                Py::Float(written.parse().ok()?)
            } else {
                let digits = int_part?;
                // `0123` is a syntax error in Python 3 (`0123j` is not); `000` is zero.
                let imaginary = matches!(self.peek(), Some(b'j' | b'J'));
                if !imaginary && digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0') {
                    return None;
                }
                Py::Int(digits.parse::<i64>().map_err(|_| digits.clone()))
            }
        };
        let value = if matches!(self.peek(), Some(b'j' | b'J')) {
            if radix != 10 {
                return None; // `0x1j` is no number
            }
            self.i += 1;
            Py::Complex(0.0, self.text[start..self.i - 1].replace('_', "").parse::<f64>().ok()?)
        } else {
            value
        };
        if self
            .peek()
            .is_some_and(|c| c == b'_' || c == b'.' || c.is_ascii_alphanumeric())
        {
            return None; // `12abc`, `1.2.3`
        }
        Some(value)
    }

    /// Digits with single `_` between them (after a radix prefix, before the first too).
    fn digits(&mut self, is_digit: impl Fn(u8) -> bool, leading_underscore: bool) -> Option<String> {
        let mut out = String::new();
        let mut after_digit = leading_underscore;
        loop {
            match self.peek() {
                Some(c) if is_digit(c) => {
                    out.push(c as char);
                    after_digit = true;
                    self.i += 1;
                }
                Some(b'_') if after_digit && self.s.get(self.i + 1).is_some_and(|c| is_digit(*c)) => {
                    after_digit = false;
                    self.i += 1;
                }
                _ => break,
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// One or more adjacent string literals, joined (`'a' "b"` is `ab`); bytes and text
    /// do not mix.
    fn strings(&mut self) -> Option<Py> {
        let mut out = String::new();
        let mut kind: Option<bool> = None; // Some(true): bytes
        loop {
            self.blank();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = self.text[start..self.i].to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) {
                self.i = start;
                break;
            }
            let (raw, bytes) = match prefix.as_str() {
                "" | "u" => (false, false),
                "r" => (true, false),
                "b" => (false, true),
                "br" | "rb" => (true, true),
                _ => return None, // f-strings are not literals
            };
            if kind.is_some_and(|k| k != bytes) {
                return None;
            }
            kind = Some(bytes);
            out.push_str(&self.string_body(raw, bytes)?);
        }
        kind.map(|_| Py::Str(out))
    }

    fn string_body(&mut self, raw: bool, bytes: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        self.i += if triple { 3 } else { 1 };
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            if c == q && (!triple || self.s[self.i..].starts_with(&[q, q, q])) {
                self.i += if triple { 3 } else { 1 };
                break;
            }
            if bytes && !c.is_ascii() {
                return None;
            }
            if c != b'\\' {
                out.push(c);
                self.i += 1;
                continue;
            }
            let e = *self.s.get(self.i + 1)?;
            if raw {
                out.extend([b'\\', e]);
                self.i += 2;
                continue;
            }
            self.i += 2;
            let simple = match e {
                b'\\' => Some(b'\\'),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                b'a' => Some(0x07),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'v' => Some(0x0b),
                _ => None,
            };
            if let Some(b) = simple {
                out.push(b);
                continue;
            }
            match e {
                b'0'..=b'7' => {
                    let mut n = u32::from(e - b'0');
                    for _ in 0..2 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') => {
                                n = n * 8 + u32::from(d - b'0');
                                self.i += 1;
                            }
                            _ => break,
                        }
                    }
                    push_code(&mut out, n, bytes)?;
                }
                b'x' => {
                    let n = self.hex(2)?;
                    push_code(&mut out, n, bytes)?;
                }
                b'u' if !bytes => {
                    let n = self.hex(4)?;
                    push_code(&mut out, n, false)?;
                }
                b'U' if !bytes => {
                    let n = self.hex(8)?;
                    push_code(&mut out, n, false)?;
                }
                b'N' if !bytes => return None,
                _ => out.extend([b'\\', e]),
            }
        }
        String::from_utf8(out).ok()
    }

    fn hex(&mut self, n: usize) -> Option<u32> {
        let digits = self.text.get(self.i..self.i + n)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += n;
        u32::from_str_radix(digits, 16).ok()
    }
}

/// A character by its code: in text, as UTF-8; in bytes, the byte itself (which must then
/// decode as UTF-8, as Ansible decodes bytes).
fn push_code(out: &mut Vec<u8>, n: u32, bytes: bool) -> Option<()> {
    if bytes {
        out.push(u8::try_from(n).ok()?);
    } else {
        let mut buf = [0; 4];
        out.extend(char::from_u32(n)?.encode_utf8(&mut buf).as_bytes());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(text: &str) -> Value {
        match literal_eval(text) {
            Some(v) => to_json(v).unwrap(),
            None => Value::String(text.to_string()),
        }
    }

    fn nested(n: usize) -> Value {
        (1..n).fold(json!([]), |v, _| json!([v]))
    }

    #[test]
    fn deep_brackets_are_text_as_in_python() {
        let deep = format!("{}{}", "[".repeat(201), "]".repeat(201));
        assert_eq!(eval(&deep), json!(deep));
        let very_deep = "[".repeat(100_000);
        assert_eq!(eval(&very_deep), json!(very_deep));
    }

    #[test]
    fn values_are_typed_like_ast_literal_eval() {
        let cases: &[(&str, Value)] = &[
            ("80", json!(80)),
            ("-5", json!(-5)),
            ("+5", json!(5)),
            ("1_000", json!(1000)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("0b101", json!(5)),
            ("000", json!(0)),
            ("1.5", json!(1.5)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("5.", json!(5.0)),
            ("0123.5", json!(123.5)),
            ("True", json!(true)),
            ("False", json!(false)),
            ("None", json!(null)),
            ("'80'", json!("80")),
            ("\"a b\"", json!("a b")),
            ("'a' \"b\"", json!("ab")),
            ("'tab\\there'", json!("tab\there")),
            ("r'a\\n'", json!("a\\n")),
            ("b'bytes'", json!("bytes")),
            ("u'\\u00e9'", json!("é")),
            ("'\\x41\\101'", json!("AA")),
            ("[1, 'a', None]", json!([1, "a", null])),
            ("(1, 2)", json!([1, 2])),
            ("(1,)", json!([1])),
            ("()", json!([])),
            ("1, 2", json!([1, 2])),
            ("{'a': 1, 'b': [True]}", json!({"a": 1, "b": [true]})),
            ("{1: 'x'}", json!({"1": "x"})),
            ("{}", json!({})),
            ("{1, 2, 1}", json!([1, 2])),
            ("[1, 2,]", json!([1, 2])),
            ("8080 # a comment", json!(8080)),
            ("  42", json!(42)),
            ("...", json!("...")),
            // Not Python literals: the text as written.
            ("FALSE", json!("FALSE")),
            ("true", json!("true")),
            ("yes", json!("yes")),
            ("0123", json!("0123")),
            ("10-5", json!("10-5")),
            ("1j", json!("1j")),
            ("2.5j", json!("2.5j")),
            ("1+2j", json!("(1+2j)")),
            ("1.5 - 2j", json!("(1.5-2j)")),
            ("-1j", json!("(-0-1j)")),
            ("set()", json!([])),
            ("1 + 2", json!("1 + 2")),
            ("1.2.3", json!("1.2.3")),
            ("127.0.0.1", json!("127.0.0.1")),
            ("ntp.example.com # a comment", json!("ntp.example.com # a comment")),
            ("56L", json!("56L")),
            ("02,06", json!("02,06")),
            ("f'x'", json!("f'x'")),
            ("'unclosed", json!("'unclosed")),
            ("--1", json!("--1")),
            ("", json!("")),
            ("{[1]: 2}", json!("{[1]: 2}")),
            ("abc def", json!("abc def")),
            (&format!("{}{}", "[".repeat(200), "]".repeat(200)), json!(nested(200))),
        ];
        for (text, want) in cases {
            assert_eq!(&eval(text), want, "{text:?}");
        }
    }

    /// The values of Ansible's own test of INI types (its `inventory_ini` integration
    /// target: `inventory.ini` and `test_types.yml`), each as that test expects it.
    #[test]
    fn ansible_own_ini_type_test_passes() {
        let cases: &[(&str, Value)] = &[
            ("True", json!(true)),
            ("1", json!(1)),
            ("1.2", json!(1.2)),
            ("1j", json!("1j")),
            ("'single'", json!("single")),
            ("\"double\"", json!("double")),
            ("b'single'", json!("single")),
            ("b\"double\"", json!("double")),
            ("...", json!("...")),
            ("{\"a\": \"b\"}", json!({"a": "b"})),
            ("[1, 2]", json!([1, 2])),
            ("(1, 2)", json!([1, 2])),
            ("{1, 2}", json!([1, 2])),
            ("set()", json!([])),
            ("None", json!(null)),
            ("invalid", json!("invalid")),
            ("[..., 1j, set(), {1, 2}, b'x']", json!(["...", "1j", [], [1, 2], "x"])),
            ("host-01.internal", json!("host-01.internal")),
        ];
        for (text, want) in cases {
            assert_eq!(&eval(text), want, "{text:?}");
        }
    }

    #[test]
    fn values_no_variable_can_hold_are_errors() {
        let e = to_json(literal_eval("99999999999999999999").unwrap()).unwrap_err();
        assert_eq!(
            e,
            "the integer 99999999999999999999 is out of range (scripts take integers from -9223372036854775808 to 9223372036854775807)"
        );
        let e = to_json(literal_eval("1e400").unwrap()).unwrap_err();
        assert_eq!(e, "inf is a number no variable can hold");
    }

    #[test]
    fn host_lines_split_like_shlex() {
        let cases: &[(&str, &[&str])] = &[
            ("host1 a=1 b=2", &["host1", "a=1", "b=2"]),
            ("h  x=\"a b\"  y='c d'", &["h", "x=a b", "y=c d"]),
            ("h s=\"'03#pa33w0rd'\"", &["h", "s='03#pa33w0rd'"]),
            ("h p=ab#cd e=f", &["h", "p=ab"]),
            ("h # comment", &["h"]),
            ("h x=\"q\\\"uote\\n\"", &["h", "x=q\"uote\\n"]),
            ("h x=a\\ b", &["h", "x=a b"]),
            ("h x=''", &["h", "x="]),
            ("h \"\"", &["h", ""]),
            ("", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(shlex_split(line).unwrap(), *want, "{line:?}");
        }
        assert_eq!(shlex_split("h x='open").unwrap_err(), "no closing quotation");
        assert_eq!(
            shlex_split("h x=\\").unwrap_err(),
            "nothing after `\\` at the end of the line"
        );
    }
}
