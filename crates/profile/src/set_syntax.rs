//! Helm's `--set` / `--set-string` syntax, ported from Helm 3's `pkg/strvals/parser.go`
//! (helm/helm, commit 020e4d2b): `a.b=c`, several pairs separated by commas, `a[0]=x` (the
//! list is padded with nulls), nested `a[0][1]=x` and `a[0].b=x`, lists `a={x,y}`, and `\`
//! escaping the next character in keys and values (`a\.b=c` sets the key `a.b`).
//!
//! `--set` types scalars like Helm's `typedVal`: `true`/`false`/`null` (any case), and base-10
//! integers not starting with `0` (but `0` itself) become bool, null and int64; everything
//! else, floats included, stays a string. `--set-string` keeps every value a string.
//!
//! Limits as in Helm: a list index above 65536 and keys nested deeper than 30 are refused.
//! Where Helm panics and recovers (indexing into a non-list, descending into a non-map), this
//! returns an error instead. Nothing here panics on any input.

use serde_yaml::{Mapping, Value};

/// The largest list index accepted (Helm's `MaxIndex`).
pub const MAX_INDEX: usize = 65536;
/// The deepest `a.b.c…` nesting accepted (Helm's `MaxNestedNameLevel`).
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// `--set` (typed scalars) or `--set-string` (all strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--set`: `true`, `1`, `null` … become booleans, numbers, null.
    Typed,
    /// `--set-string`: every value is a string.
    String,
}

/// A `--set` argument that cannot be parsed. Nothing is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} '{arg}': {message}\n  fix: {fix}")]
pub struct SetError {
    /// `--set` or `--set-string`.
    pub flag: &'static str,
    /// The argument as typed.
    pub arg: String,
    /// What is wrong with it.
    pub message: String,
    /// How to write it instead.
    pub fix: String,
}

/// Parses one argument into a values tree of its own.
pub fn parse(arg: &str, mode: Mode) -> Result<Value, SetError> {
    let mut tree = Mapping::new();
    apply_map(&mut tree, arg, mode)?;
    Ok(Value::Mapping(tree))
}

/// Parses one argument into `tree`, as Helm's `ParseInto` does for successive `--set`s.
pub fn apply(tree: &mut Value, arg: &str, mode: Mode) -> Result<(), SetError> {
    if !tree.is_mapping() {
        *tree = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(m) = tree else {
        return Ok(());
    };
    // Work on a copy so a failing argument changes nothing.
    let mut work = m.clone();
    apply_map(&mut work, arg, mode)?;
    *m = work;
    Ok(())
}

fn apply_map(tree: &mut Mapping, arg: &str, mode: Mode) -> Result<(), SetError> {
    let mut p = Parser {
        chars: arg.chars().collect(),
        pos: 0,
        mode,
    };
    let flag = match mode {
        Mode::Typed => "--set",
        Mode::String => "--set-string",
    };
    let fail = |e: Fail| SetError {
        flag,
        arg: arg.to_string(),
        message: e.message,
        fix: e.fix.to_string(),
    };
    loop {
        match p.key(tree, 0) {
            Ok(()) => {}
            Err(Stop::Eof) => return Ok(()),
            Err(Stop::Fail(e)) => return Err(fail(e)),
        }
    }
}

struct Fail {
    message: String,
    fix: &'static str,
}

/// How a step ends: the input ran out (Helm's `io.EOF`, not an error at top level), or a
/// real error.
enum Stop {
    Eof,
    Fail(Fail),
}

fn fail(message: impl Into<String>, fix: &'static str) -> Stop {
    Stop::Fail(Fail {
        message: message.into(),
        fix,
    })
}

const SYNTAX: &str = "use key=value pairs separated by commas, e.g. a.b=c,list[0]=x,list2={x,y}; escape . , = [ with \\";

struct Parser {
    chars: Vec<char>,
    pos: usize,
    mode: Mode,
}

/// Why `runes_until` returned.
enum End {
    Stop(char),
    Eof,
}

impl Parser {
    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    /// Reads up to one of `stop`; a `\` makes the next character literal.
    fn runes_until(&mut self, stop: &[char]) -> (String, End) {
        let mut v = String::new();
        loop {
            match self.next() {
                None => return (v, End::Eof),
                Some(c) if stop.contains(&c) => return (v, End::Stop(c)),
                Some('\\') => match self.next() {
                    Some(n) => v.push(n),
                    None => return (v, End::Eof),
                },
                Some(c) => v.push(c),
            }
        }
    }

    fn typed(&self, s: String) -> Value {
        if self.mode == Mode::String {
            return Value::String(s);
        }
        if s.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if s.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
        if s.eq_ignore_ascii_case("null") {
            return Value::Null;
        }
        if s == "0" {
            return Value::Number(0.into());
        }
        // Go's ParseInt accepts a leading sign; a leading zero keeps the text (e.g. "0042").
        if !s.is_empty() && !s.starts_with('0') {
            if let Ok(i) = s.parse::<i64>() {
                return Value::Number(i.into());
            }
        }
        Value::String(s)
    }

    fn key(&mut self, data: &mut Mapping, level: usize) -> Result<(), Stop> {
        let (k, end) = self.runes_until(&['=', '[', ',', '.']);
        match end {
            End::Eof if k.is_empty() => Err(Stop::Eof),
            End::Eof => Err(fail(
                format!("key \"{k}\" has no value"),
                "write it as key=value (key= sets an empty string)",
            )),
            End::Stop('[') => {
                let i = self.key_index()?;
                let key = Value::String(k.clone());
                let list = match data.get(&key) {
                    None => vec![],
                    Some(Value::Sequence(l)) => l.clone(),
                    Some(_) => {
                        return Err(fail(
                            format!("key \"{k}\" is not a list, but is indexed with [{i}]"),
                            SYNTAX,
                        ))
                    }
                };
                let result = self.list_item(list, i, level);
                match result {
                    Ok(list) => {
                        set(data, &k, Value::Sequence(list));
                        Ok(())
                    }
                    Err((list, e)) => {
                        set(data, &k, Value::Sequence(list));
                        Err(e)
                    }
                }
            }
            End::Stop('=') => match self.val_list() {
                Ok(list) => {
                    set(data, &k, Value::Sequence(list));
                    Ok(())
                }
                Err(ListStop::Eof) => {
                    set(data, &k, Value::String(String::new()));
                    Err(Stop::Eof)
                }
                Err(ListStop::NotList) => {
                    // Helm returns success here even at the end of the input; the next key
                    // then meets the end. That is what makes `a.=b` an error below.
                    let (v, _) = self.runes_until(&[',']);
                    set(data, &k, self.typed(v));
                    Ok(())
                }
                Err(ListStop::Fail(e)) => Err(Stop::Fail(e)),
            },
            End::Stop(',') => Err(fail(
                format!("key \"{k}\" has no value (cannot end with ,)"),
                "write it as key=value",
            )),
            End::Stop(_) => {
                // '.': descend into a map.
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(fail(
                        format!("value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"),
                        "use fewer dotted levels, or escape dots that belong to a key as \\.",
                    ));
                }
                let key = Value::String(k.clone());
                let mut inner = match data.get(&key) {
                    None => Mapping::new(),
                    Some(Value::Mapping(m)) => m.clone(),
                    Some(_) => {
                        return Err(fail(
                            format!("key \"{k}\" already holds a value that is not a map, so \"{k}.…\" cannot be set"),
                            "set either the key or keys below it, not both",
                        ))
                    }
                };
                let r = self.key(&mut inner, level);
                if r.is_ok() && inner.is_empty() {
                    return Err(fail(format!("key map \"{k}\" has no value"), SYNTAX));
                }
                if !inner.is_empty() {
                    set(data, &k, Value::Mapping(inner));
                }
                r
            }
        }
    }

    fn key_index(&mut self) -> Result<usize, Stop> {
        let (v, end) = self.runes_until(&[']']);
        if let End::Eof = end {
            return Err(fail(
                format!("error parsing index: `[{v}` is not closed"),
                "close the index: a[0]=x",
            ));
        }
        match v.parse::<i64>() {
            Ok(i) if i < 0 => Err(fail(
                format!("negative {i} index not allowed"),
                "list indices start at 0",
            )),
            Ok(i) if i as u64 > MAX_INDEX as u64 => Err(fail(
                format!("index of {i} is greater than maximum supported index of {MAX_INDEX}"),
                "use a smaller index",
            )),
            Ok(i) => Ok(i as usize),
            Err(_) => Err(fail(
                format!("error parsing index: \"{v}\" is not a number"),
                "use a number: a[0]=x",
            )),
        }
    }

    /// Helm's `listItem`: what follows `]`. Returns the list even on error (Helm sets it).
    fn list_item(
        &mut self,
        mut list: Vec<Value>,
        i: usize,
        level: usize,
    ) -> Result<Vec<Value>, (Vec<Value>, Stop)> {
        let (k, end) = self.runes_until(&['[', '.', '=']);
        if !k.is_empty() {
            return Err((
                list,
                fail(
                    format!("unexpected data at end of array index: \"{k}\""),
                    SYNTAX,
                ),
            ));
        }
        match end {
            // `a[0]` alone: Helm keeps the list as it was and stops.
            End::Eof => Err((list, Stop::Eof)),
            End::Stop('=') => {
                let v = match self.val_list() {
                    Ok(l) => Value::Sequence(l),
                    Err(ListStop::Eof) => Value::String(String::new()),
                    Err(ListStop::NotList) => {
                        let (v, _) = self.runes_until(&[',']);
                        self.typed(v)
                    }
                    Err(ListStop::Fail(e)) => return Err((list, Stop::Fail(e))),
                };
                set_index(&mut list, i, v);
                Ok(list)
            }
            End::Stop('[') => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => return Err((list, e)),
                };
                let current = match list.get(i) {
                    None | Some(Value::Null) => vec![],
                    Some(Value::Sequence(l)) => l.clone(),
                    Some(_) => {
                        return Err((list, fail(format!("element [{i}] is not a list"), SYNTAX)))
                    }
                };
                match self.list_item(current, next, level) {
                    Ok(inner) => {
                        set_index(&mut list, i, Value::Sequence(inner));
                        Ok(list)
                    }
                    Err((_, e)) => Err((list, e)),
                }
            }
            End::Stop(_) => {
                // '.': a map inside the list.
                let mut inner = match list.get(i) {
                    Some(Value::Mapping(m)) => m.clone(),
                    _ => Mapping::new(),
                };
                match self.key(&mut inner, level) {
                    Ok(()) => {
                        set_index(&mut list, i, Value::Mapping(inner));
                        Ok(list)
                    }
                    Err(e) => Err((list, e)),
                }
            }
        }
    }

    /// `{a,b,c}` after `=`. `NotList` (nothing consumed) when the value is not a list.
    fn val_list(&mut self) -> Result<Vec<Value>, ListStop> {
        match self.next() {
            None => return Err(ListStop::Eof),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Err(ListStop::NotList);
            }
        }
        let mut list = vec![];
        loop {
            let (v, end) = self.runes_until(&[',', '}']);
            match end {
                End::Eof => {
                    return Err(ListStop::Fail(Fail {
                        message: "list must terminate with '}'".into(),
                        fix: "close the list: a={x,y}",
                    }))
                }
                End::Stop('}') => {
                    if let Some(c) = self.next() {
                        if c != ',' {
                            self.unread();
                        }
                    }
                    list.push(self.typed(v));
                    return Ok(list);
                }
                End::Stop(_) => list.push(self.typed(v)),
            }
        }
    }
}

enum ListStop {
    Eof,
    NotList,
    Fail(Fail),
}

/// Helm's `set`: an empty key is ignored.
fn set(data: &mut Mapping, key: &str, v: Value) {
    if !key.is_empty() {
        data.insert(Value::String(key.to_string()), v);
    }
}

/// Helm's `setIndex`: pads with nulls up to `i` (already checked against [`MAX_INDEX`]).
fn set_index(list: &mut Vec<Value>, i: usize, v: Value) {
    if list.len() <= i {
        list.resize(i + 1, Value::Null);
    }
    list[i] = v;
}
