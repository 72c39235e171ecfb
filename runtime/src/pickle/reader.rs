//! The reader: a pickle machine over protocols 0–5 that builds [`Value`]s and knows a fixed
//! list of reconstructors ([`Known`]). It never imports, looks up or calls anything.

use core::cell::Cell;
use std::borrow::Cow;

use super::MAX_DEPTH;
use super::error::PickleError;
use super::opcodes::{self as op, *};
use super::value::{Array, Dtype, Known, Value, discard};

/// How far past the memo's current size a `PUT` may write (CPython's pickler writes
/// sequentially; a bound keeps a hostile index from allocating without limit).
const MEMO_SLACK: usize = 16;

/// The result of running a stream: the value `STOP` popped and the memo it refers into.
pub(crate) struct Parsed<'de> {
    pub(crate) root: Value<'de>,
    pub(crate) memo: Vec<Option<Value<'de>>>,
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        discard(core::mem::replace(&mut self.root, Value::None));
        for v in self.memo.drain(..).flatten() {
            discard(v);
        }
    }
}

pub(crate) struct Machine<'de> {
    input: &'de [u8],
    pos: usize,
    /// Start of the opcode being run, and its name, for errors.
    at: usize,
    opcode: &'static str,
    stack: Vec<Value<'de>>,
    marks: Vec<usize>,
    memo: Vec<Option<Value<'de>>>,
    memo_len: usize,
    buffers: usize,
    next_buffer: usize,
    /// Values the machine may still copy (set/frozenset/bytes arguments, latin-1 text).
    budget: Cell<usize>,
}

impl Drop for Machine<'_> {
    fn drop(&mut self) {
        for v in self.stack.drain(..) {
            discard(v);
        }
        for v in self.memo.drain(..).flatten() {
            discard(v);
        }
    }
}

type Result<T> = core::result::Result<T, PickleError>;

impl<'de> Machine<'de> {
    pub(crate) fn new(input: &'de [u8], buffers: usize) -> Self {
        Self {
            input,
            pos: 0,
            at: 0,
            opcode: "PROTO",
            stack: Vec::with_capacity(64),
            marks: Vec::new(),
            memo: Vec::new(),
            memo_len: 0,
            buffers,
            next_buffer: 0,
            budget: Cell::new(input.len().saturating_mul(16).saturating_add(1 << 16)),
        }
    }

    fn corrupt(&self, message: impl Into<String>) -> PickleError {
        PickleError::Corrupt {
            opcode: self.opcode,
            offset: self.at,
            message: message.into(),
        }
    }

    fn unsupported(&self, why: &'static str) -> PickleError {
        PickleError::Unsupported {
            opcode: self.opcode,
            offset: self.at,
            why,
        }
    }

    fn take(&mut self, n: u64) -> Result<&'de [u8]> {
        let left = self.input.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let s = &self.input[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(PickleError::Truncated {
                offset: self.at,
                opcode: self.opcode,
                needed: n,
                left,
            }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A `\n`-terminated line (protocol 0 arguments), without the newline.
    fn line(&mut self) -> Result<&'de str> {
        let rest = &self.input[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(PickleError::Truncated {
                offset: self.at,
                opcode: self.opcode,
                needed: rest.len() as u64 + 1,
                left: rest.len(),
            });
        };
        let line = self.take(end as u64 + 1)?;
        core::str::from_utf8(&line[..end]).map_err(|_| self.corrupt("argument is not UTF-8"))
    }

    fn utf8(&self, bytes: &'de [u8]) -> Result<Value<'de>> {
        match core::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(Cow::Borrowed(s))),
            Err(e) => Err(self.corrupt(format!(
                "str is not valid UTF-8 at its byte {} (a lone surrogate?)",
                e.valid_up_to()
            ))),
        }
    }

    fn charge(&self, cost: usize) -> Result<()> {
        match self.budget.get().checked_sub(cost) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(PickleError::Limit(format!(
                "{} at byte {} copies more than 16 times the input's size",
                self.opcode, self.at
            ))),
        }
    }

    /// The lowest stack index the current opcode may pop: the last mark.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, v: Value<'de>) {
        self.stack.push(v);
    }

    fn pop(&mut self) -> Result<Value<'de>> {
        if self.stack.len() <= self.floor() {
            return Err(self.corrupt("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.corrupt("stack underflow"))
    }

    /// Everything above the last mark, and the mark removed.
    fn pop_mark(&mut self) -> Result<Vec<Value<'de>>> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.corrupt("no MARK to close"));
        };
        Ok(self.stack.split_off(mark))
    }

    fn resolve<'s>(&'s self, mut v: &'s Value<'de>) -> Result<&'s Value<'de>> {
        let mut hops = 0;
        while let Value::Ref(i) = v {
            hops += 1;
            if hops > self.memo.len() {
                return Err(self.corrupt("memo references form a cycle"));
            }
            v = self
                .memo
                .get(*i)
                .and_then(Option::as_ref)
                .ok_or_else(|| self.corrupt(format!("memo slot {i} is empty")))?;
        }
        Ok(v)
    }

    /// The value on top of the stack, through memo references, for mutation.
    fn top_mut(&mut self) -> Result<&mut Value<'de>> {
        if self.stack.len() <= self.floor() {
            return Err(self.corrupt("stack underflow"));
        }
        let mut slot = match self.stack.last() {
            Some(Value::Ref(i)) => *i,
            Some(_) => {
                let last = self.stack.len() - 1;
                return Ok(&mut self.stack[last]);
            }
            None => return Err(self.corrupt("stack underflow")),
        };
        let mut hops = 0;
        loop {
            hops += 1;
            match self.memo.get(slot).and_then(Option::as_ref) {
                Some(Value::Ref(j)) if hops <= self.memo.len() => slot = *j,
                Some(Value::Ref(_)) => return Err(self.corrupt("memo references form a cycle")),
                Some(_) => break,
                None => return Err(self.corrupt(format!("memo slot {slot} is empty"))),
            }
        }
        self.memo[slot]
            .as_mut()
            .ok_or_else(|| PickleError::Limit("memo slot vanished".into()))
    }

    fn memoize(&mut self, index: usize) -> Result<()> {
        if index > self.memo.len() + MEMO_SLACK {
            return Err(self.corrupt(format!(
                "memo index {index} is far beyond the {} slots so far",
                self.memo.len()
            )));
        }
        if self.stack.len() <= self.floor() {
            return Err(self.corrupt("stack underflow"));
        }
        let Some(top) = self.stack.last_mut() else {
            return Err(self.corrupt("stack underflow"));
        };
        let value = core::mem::replace(top, Value::Ref(index));
        if index >= self.memo.len() {
            self.memo.resize_with(index + 1, || None);
        }
        match self.memo[index].replace(value) {
            Some(old) => discard(old),
            None => self.memo_len += 1,
        }
        Ok(())
    }

    fn get(&mut self, index: usize) -> Result<()> {
        if !matches!(self.memo.get(index), Some(Some(_))) {
            return Err(self.corrupt(format!("memo slot {index} is empty")));
        }
        self.push(Value::Ref(index));
        Ok(())
    }

    fn int_line(&self, line: &str) -> Result<Value<'de>> {
        let digits = line.strip_suffix('L').unwrap_or(line);
        match digits {
            "00" => return Ok(Value::Bool(false)),
            "01" => return Ok(Value::Bool(true)),
            _ => {}
        }
        if let Ok(v) = digits.parse::<i64>() {
            return Ok(Value::Int(v));
        }
        match digits.parse::<i128>() {
            Ok(v) => Ok(Value::BigInt(Cow::Owned(v.to_le_bytes().to_vec()))),
            Err(_) => Err(self.corrupt(format!("{line:?} is not an int keel can read"))),
        }
    }

    fn long(bytes: &'de [u8]) -> Value<'de> {
        if bytes.is_empty() {
            return Value::Int(0);
        }
        if bytes.len() <= 8 {
            let fill = if bytes[bytes.len() - 1] & 0x80 != 0 {
                0xff
            } else {
                0
            };
            let mut le = [fill; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            return Value::Int(i64::from_le_bytes(le));
        }
        Value::BigInt(Cow::Borrowed(bytes))
    }

    fn global(&self, module: &str, name: &str) -> Result<Value<'de>> {
        match Known::lookup(module, name) {
            Some(k) => Ok(Value::Global(k)),
            None => Err(PickleError::Forbidden {
                module: module.into(),
                name: name.into(),
                opcode: self.opcode,
                offset: self.at,
            }),
        }
    }

    /// Runs the stream to `STOP`.
    pub(crate) fn run(mut self) -> Result<Parsed<'de>> {
        loop {
            self.at = self.pos;
            let Some(&byte) = self.input.get(self.pos) else {
                return Err(PickleError::Truncated {
                    offset: self.pos,
                    opcode: "STOP",
                    needed: 1,
                    left: 0,
                });
            };
            self.pos += 1;
            self.opcode = op::name(byte);
            match byte {
                PROTO => {
                    let v = self.u8()?;
                    if v > HIGHEST_PROTOCOL {
                        return Err(PickleError::Protocol {
                            offset: self.at,
                            found: v,
                        });
                    }
                }
                FRAME => {
                    let n = self.u64()?;
                    let left = self.input.len() - self.pos;
                    if usize::try_from(n).map_or(true, |n| n > left) {
                        return Err(PickleError::Truncated {
                            offset: self.at,
                            opcode: self.opcode,
                            needed: n,
                            left,
                        });
                    }
                }
                STOP => {
                    let root = self.pop()?;
                    if self.pos != self.input.len() {
                        discard(root);
                        return Err(PickleError::TrailingBytes {
                            offset: self.at,
                            count: self.input.len() - self.pos,
                        });
                    }
                    let memo = core::mem::take(&mut self.memo);
                    return Ok(Parsed { root, memo });
                }
                MARK => self.marks.push(self.stack.len()),
                POP => {
                    if self.stack.len() > self.floor() {
                        let v = self.pop()?;
                        discard(v);
                    } else {
                        self.pop_mark()?.into_iter().for_each(discard);
                    }
                }
                POP_MARK => self.pop_mark()?.into_iter().for_each(discard),
                NONE => self.push(Value::None),
                NEWTRUE => self.push(Value::Bool(true)),
                NEWFALSE => self.push(Value::Bool(false)),
                INT | LONG => {
                    let line = self.line()?;
                    let v = self.int_line(line)?;
                    self.push(v);
                }
                BININT => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()));
                }
                BININT1 => {
                    let v = self.u8()?;
                    self.push(Value::Int(v.into()));
                }
                BININT2 => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()));
                }
                LONG1 => {
                    let n = self.u8()?;
                    let bytes = self.take(n.into())?;
                    self.push(Self::long(bytes));
                }
                LONG4 => {
                    let n = i32::from_le_bytes(self.array()?);
                    let n = u64::try_from(n).map_err(|_| self.corrupt("negative length"))?;
                    let bytes = self.take(n)?;
                    self.push(Self::long(bytes));
                }
                FLOAT => {
                    let line = self.line()?;
                    let v = line
                        .parse::<f64>()
                        .map_err(|_| self.corrupt(format!("{line:?} is not a float")))?;
                    self.push(Value::Float(v));
                }
                BINFLOAT => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Value::Float(v));
                }
                STRING | UNICODE => {
                    return Err(self.unsupported(
                        "protocol 0's quoted and escaped text; pickle with protocol 2 or later",
                    ));
                }
                SHORT_BINSTRING | BINSTRING => {
                    let n = if byte == SHORT_BINSTRING {
                        u64::from(self.u8()?)
                    } else {
                        let n = i32::from_le_bytes(self.array()?);
                        u64::try_from(n).map_err(|_| self.corrupt("negative length"))?
                    };
                    let bytes = self.take(n)?;
                    // Python 2's `str`: text when it decodes, bytes otherwise.
                    let v = match core::str::from_utf8(bytes) {
                        Ok(s) => Value::Str(Cow::Borrowed(s)),
                        Err(_) => Value::Bytes(Cow::Borrowed(bytes)),
                    };
                    self.push(v);
                }
                SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                    let n = match byte {
                        SHORT_BINUNICODE => u64::from(self.u8()?),
                        BINUNICODE => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let bytes = self.take(n)?;
                    let v = self.utf8(bytes)?;
                    self.push(v);
                }
                SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8 => {
                    let n = match byte {
                        SHORT_BINBYTES => u64::from(self.u8()?),
                        BINBYTES => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let bytes = Cow::Borrowed(self.take(n)?);
                    self.push(if byte == BYTEARRAY8 {
                        Value::ByteArray(bytes)
                    } else {
                        Value::Bytes(bytes)
                    });
                }
                NEXT_BUFFER => {
                    if self.next_buffer >= self.buffers {
                        return Err(PickleError::MissingBuffer {
                            offset: self.at,
                            index: self.next_buffer,
                            count: self.buffers,
                        });
                    }
                    self.push(Value::Buffer(self.next_buffer));
                    self.next_buffer += 1;
                }
                READONLY_BUFFER => {
                    // A read-only view of the buffer: keel's buffers are read-only already.
                    self.top_mut()?;
                }
                EMPTY_LIST => self.push(Value::List(Vec::new())),
                EMPTY_TUPLE => self.push(Value::Tuple(Vec::new())),
                EMPTY_DICT => self.push(Value::Dict(Vec::new())),
                EMPTY_SET => self.push(Value::Set(Vec::new())),
                LIST => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                TUPLE => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = usize::from(byte - TUPLE1 + 1);
                    if self.stack.len() < self.floor() + n {
                        return Err(self.corrupt("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items));
                }
                FROZENSET => {
                    let items = self.pop_mark()?;
                    self.push(Value::FrozenSet(items));
                }
                DICT => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push(Value::Dict(pairs));
                }
                APPEND | SETITEM => {
                    let items = if byte == APPEND { 1 } else { 2 };
                    if self.stack.len() < self.floor() + items + 1 {
                        return Err(self.corrupt("stack underflow"));
                    }
                    self.extend_target(self.stack.len() - items)?;
                }
                APPENDS | SETITEMS | ADDITEMS => {
                    let Some(mark) = self.marks.pop() else {
                        return Err(self.corrupt("no MARK to close"));
                    };
                    self.extend_target(mark)?;
                }
                GET => {
                    let line = self.line()?;
                    let i = line
                        .parse()
                        .map_err(|_| self.corrupt(format!("{line:?} is not a memo index")))?;
                    self.get(i)?;
                }
                BINGET => {
                    let i = self.u8()?;
                    self.get(i.into())?;
                }
                LONG_BINGET => {
                    let i = self.u32()?;
                    self.get(i as usize)?;
                }
                PUT => {
                    let line = self.line()?;
                    let i = line
                        .parse()
                        .map_err(|_| self.corrupt(format!("{line:?} is not a memo index")))?;
                    self.memoize(i)?;
                }
                BINPUT => {
                    let i = self.u8()?;
                    self.memoize(i.into())?;
                }
                LONG_BINPUT => {
                    let i = self.u32()?;
                    self.memoize(i as usize)?;
                }
                MEMOIZE => self.memoize(self.memo_len)?,
                GLOBAL | INST => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.global(module, name)?;
                    if byte == INST {
                        return Err(self.unsupported("it builds an instance of a class"));
                    }
                    self.push(v);
                }
                STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let v = match (self.resolve(&module)?, self.resolve(&name)?) {
                        (Value::Str(m), Value::Str(n)) => self.global(m, n)?,
                        (m, n) => {
                            return Err(self.corrupt(format!(
                                "module and name must be str, got {} and {}",
                                m.type_name(),
                                n.type_name()
                            )));
                        }
                    };
                    self.push(v);
                }
                REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                BUILD => {
                    let state = self.pop()?;
                    let state = self.tuple_items(state, "BUILD state")?;
                    let r = self.build(&state);
                    state.into_iter().for_each(discard);
                    r?;
                }
                NEWOBJ | NEWOBJ_EX | OBJ => {
                    return Err(self
                        .unsupported("it constructs an object of a class, which keel never does"));
                }
                PERSID | BINPERSID => {
                    return Err(self.unsupported("persistent ids need a persistent_load hook"));
                }
                EXT1 | EXT2 | EXT4 => {
                    return Err(self.unsupported("it names a class through copyreg's registry"));
                }
                DUP => {
                    return Err(self.unsupported("CPython's pickler never writes DUP"));
                }
                _ => {
                    return Err(PickleError::UnknownOpcode {
                        offset: self.at,
                        byte,
                    });
                }
            }
        }
    }

    fn pairs(&self, items: Vec<Value<'de>>) -> Result<Vec<(Value<'de>, Value<'de>)>> {
        if !items.len().is_multiple_of(2) {
            let n = items.len();
            items.into_iter().for_each(discard);
            return Err(self.corrupt(format!("{n} items do not make key/value pairs")));
        }
        let mut pairs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(pairs)
    }

    /// Moves `stack[from..]` into the list, dict or set just below it (through a memo
    /// reference if that is what is there), as `APPEND(S)`, `SETITEM(S)` and `ADDITEMS` do.
    fn extend_target(&mut self, from: usize) -> Result<()> {
        let Some(at) = from
            .checked_sub(1)
            .filter(|&at| at >= self.floor() && from <= self.stack.len())
        else {
            return Err(self.corrupt("stack underflow"));
        };
        // Take the target out, so that the stack can be drained into it.
        let slot = match &self.stack[at] {
            Value::Ref(i) => {
                let mut slot = *i;
                let mut hops = 0;
                while let Some(Some(Value::Ref(j))) = self.memo.get(slot) {
                    hops += 1;
                    if hops > self.memo.len() {
                        return Err(self.corrupt("memo references form a cycle"));
                    }
                    slot = *j;
                }
                if !matches!(self.memo.get(slot), Some(Some(_))) {
                    return Err(self.corrupt(format!("memo slot {slot} is empty")));
                }
                Some(slot)
            }
            _ => None,
        };
        let mut target = match slot {
            Some(i) => self.memo[i].take().unwrap_or(Value::None),
            None => core::mem::replace(&mut self.stack[at], Value::None),
        };
        let count = self.stack.len() - from;
        let result = match (&mut target, self.opcode) {
            (Value::List(list), "APPEND" | "APPENDS") => {
                list.extend(self.stack.drain(from..));
                Ok(())
            }
            (Value::Set(set), "ADDITEMS") => {
                set.extend(self.stack.drain(from..));
                Ok(())
            }
            (Value::Dict(dict), "SETITEM" | "SETITEMS") if count.is_multiple_of(2) => {
                dict.reserve(count / 2);
                let mut items = self.stack.drain(from..);
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    dict.push((k, v));
                }
                Ok(())
            }
            (Value::Dict(_), _) if !count.is_multiple_of(2) => {
                Err(self.corrupt(format!("{count} items do not make key/value pairs")))
            }
            (other, op) => Err(self.corrupt(format!("{op} on a {}", other.type_name()))),
        };
        match slot {
            Some(i) => self.memo[i] = Some(target),
            None => self.stack[at] = target,
        }
        result
    }

    /// A copy of `v` (a `REDUCE`/`BUILD` argument that may be shared through the memo),
    /// charged to the budget node by node.
    fn copy(&self, v: &Value<'de>, depth: usize) -> Result<Value<'de>> {
        if depth > MAX_DEPTH {
            return Err(PickleError::Limit(format!(
                "an argument of {} at byte {} nests deeper than {MAX_DEPTH}",
                self.opcode, self.at
            )));
        }
        self.charge(1)?;
        Ok(match self.resolve(v)? {
            Value::List(items) => Value::List(self.copy_all(items, depth)?),
            Value::Tuple(items) => Value::Tuple(self.copy_all(items, depth)?),
            Value::Set(items) => Value::Set(self.copy_all(items, depth)?),
            Value::FrozenSet(items) => Value::FrozenSet(self.copy_all(items, depth)?),
            Value::Dict(pairs) => {
                let mut out = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    out.push((self.copy(k, depth + 1)?, self.copy(v, depth + 1)?));
                }
                Value::Dict(out)
            }
            other => {
                self.charge(scalar_cost(other))?;
                other.clone()
            }
        })
    }

    fn copy_all(&self, items: &[Value<'de>], depth: usize) -> Result<Vec<Value<'de>>> {
        items.iter().map(|v| self.copy(v, depth + 1)).collect()
    }

    /// The items of an owned tuple, or a copy of those of a shared one.
    fn tuple_items(&self, v: Value<'de>, what: &str) -> Result<Vec<Value<'de>>> {
        match v {
            Value::Tuple(items) => Ok(items),
            Value::Ref(_) => match self.resolve(&v)? {
                Value::Tuple(items) => self.copy_all(items, 0),
                other => {
                    Err(self.corrupt(format!("{what} must be a tuple, got {}", other.type_name())))
                }
            },
            other => {
                let e = self.corrupt(format!("{what} must be a tuple, got {}", other.type_name()));
                discard(other);
                Err(e)
            }
        }
    }

    /// The items of a set/frozenset constructor's iterable argument.
    fn items_of(&self, v: &Value<'de>) -> Result<Vec<Value<'de>>> {
        match self.resolve(v)? {
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => self.copy_all(items, 0),
            other => Err(self.corrupt(format!("cannot iterate a {}", other.type_name()))),
        }
    }

    fn bytes_arg(&self, v: &Value<'de>) -> Result<Cow<'de, [u8]>> {
        match self.resolve(v)? {
            v @ (Value::Bytes(b) | Value::ByteArray(b)) => {
                self.charge(scalar_cost(v))?;
                Ok(b.clone())
            }
            other => Err(self.corrupt(format!("expected bytes, got {}", other.type_name()))),
        }
    }

    fn latin1(&self, text: &Value<'de>, encoding: &Value<'de>) -> Result<Vec<u8>> {
        let (Value::Str(text), Value::Str(encoding)) =
            (self.resolve(text)?, self.resolve(encoding)?)
        else {
            return Err(self.corrupt("expected (str, encoding)"));
        };
        if !matches!(encoding.as_ref(), "latin1" | "latin-1" | "iso-8859-1") {
            return Err(self.corrupt(format!("encoding {encoding:?} is not latin1")));
        }
        self.charge(text.len() / 8 + 1)?;
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| self.corrupt("text does not encode as latin1"))
    }

    fn reduce(&mut self, callable: Value<'de>, args: Value<'de>) -> Result<Value<'de>> {
        let known = match self.resolve(&callable)? {
            Value::Global(k) => *k,
            other => {
                let e = self.corrupt(format!("cannot call a {}", other.type_name()));
                discard(callable);
                discard(args);
                return Err(e);
            }
        };
        let args = self.tuple_items(args, "arguments")?;
        let result = self.apply(known, &args);
        args.into_iter().for_each(discard);
        result
    }

    fn apply(&mut self, known: Known, args: &[Value<'de>]) -> Result<Value<'de>> {
        let bad = |this: &Self, what: &str| {
            this.corrupt(format!(
                "unexpected arguments for {known:?}: expected {what}"
            ))
        };
        match (known, args) {
            (Known::Set, []) => Ok(Value::Set(Vec::new())),
            (Known::Frozenset, []) => Ok(Value::FrozenSet(Vec::new())),
            (Known::Set, [items]) => Ok(Value::Set(self.items_of(items)?)),
            (Known::Frozenset, [items]) => Ok(Value::FrozenSet(self.items_of(items)?)),
            (Known::Bytes, []) => Ok(Value::Bytes(Cow::Borrowed(&[]))),
            (Known::Bytes, [b]) => Ok(Value::Bytes(self.bytes_arg(b)?)),
            (Known::Bytearray, []) => Ok(Value::ByteArray(Cow::Borrowed(&[]))),
            (Known::Bytearray, [b]) => Ok(Value::ByteArray(self.bytes_arg(b)?)),
            (Known::Bytearray, [t, e]) => Ok(Value::ByteArray(Cow::Owned(self.latin1(t, e)?))),
            (Known::CodecsEncode, [t, e]) => Ok(Value::Bytes(Cow::Owned(self.latin1(t, e)?))),
            (Known::Dtype, [name, ..]) if args.len() <= 3 => {
                let Value::Str(name) = self.resolve(name)? else {
                    return Err(bad(self, "(str, bool, bool)"));
                };
                let size_one = name.ends_with('1') && name.len() == 2;
                let order = if size_one || name.starts_with(['b', 'S', 'V', 'O']) {
                    '|'
                } else if cfg!(target_endian = "little") {
                    '<'
                } else {
                    '>'
                };
                Ok(Value::Dtype(Box::new(Dtype {
                    name: name.to_string(),
                    order,
                })))
            }
            (Known::Reconstruct, [class, ..]) => match self.resolve(class)? {
                Value::Global(Known::Ndarray) => Ok(Value::PendingArray),
                _ => Err(bad(self, "(numpy.ndarray, shape, typecode)")),
            },
            (Known::Frombuffer, [data, dtype, shape, order]) => {
                let data = match self.resolve(data)? {
                    v @ (Value::Buffer(_) | Value::Bytes(_) | Value::ByteArray(_)) => {
                        self.charge(scalar_cost(v))?;
                        v.clone()
                    }
                    other => {
                        return Err(self.corrupt(format!(
                            "_frombuffer's data must be a buffer or bytes, got {}",
                            other.type_name()
                        )));
                    }
                };
                let dtype = self.dtype_of(dtype)?;
                let shape = self.shape_of(shape)?;
                let fortran = match self.resolve(order)? {
                    Value::Str(s) if s == "C" => false,
                    Value::Str(s) if s == "F" => true,
                    _ => return Err(bad(self, "order 'C' or 'F'")),
                };
                Ok(Value::Array(Box::new(Array {
                    data,
                    dtype,
                    shape,
                    fortran,
                })))
            }
            _ => Err(bad(
                self,
                "the arguments CPython and numpy write for it (see keel::pickle's docs)",
            )),
        }
    }

    fn dtype_of(&self, v: &Value<'de>) -> Result<String> {
        match self.resolve(v)? {
            Value::Dtype(d) => Ok(format!("{}{}", d.order, d.name)),
            other => {
                Err(self.corrupt(format!("expected a numpy.dtype, got {}", other.type_name())))
            }
        }
    }

    fn shape_of(&self, v: &Value<'de>) -> Result<Vec<usize>> {
        let (Value::Tuple(dims) | Value::List(dims)) = self.resolve(v)? else {
            return Err(self.corrupt("a numpy shape must be a tuple"));
        };
        dims.iter()
            .map(|d| match self.resolve(d)? {
                Value::Int(n) => usize::try_from(*n)
                    .map_err(|_| self.corrupt(format!("negative dimension {n} in a shape"))),
                other => Err(self.corrupt(format!("a dimension is a {}", other.type_name()))),
            })
            .collect()
    }

    fn build(&mut self, state: &[Value<'de>]) -> Result<()> {
        let built = match self.resolve(self.stack.last().unwrap_or(&Value::None))? {
            Value::Dtype(_) => {
                // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
                let order = match state.get(1).map(|v| self.resolve(v)).transpose()? {
                    Some(Value::Str(s)) if s.len() == 1 => s.chars().next(),
                    _ => None,
                };
                let plain = state
                    .get(2..5)
                    .is_some_and(|s| s.iter().all(|v| matches!(v, Value::None)));
                match (order, plain) {
                    (Some(o @ ('<' | '>' | '|' | '=')), true) => Some(Err(o)),
                    (_, false) => {
                        return Err(PickleError::Array(
                            "structured and sub-array dtypes are not supported".into(),
                        ));
                    }
                    _ => return Err(self.corrupt("a numpy.dtype's state has no byte order")),
                }
            }
            Value::PendingArray => {
                // (version, shape, dtype, is_fortran, raw data)
                let [_, shape, dtype, fortran, data] = state else {
                    return Err(self.corrupt("an ndarray's state must have 5 items"));
                };
                let shape = self.shape_of(shape)?;
                let dtype = self.dtype_of(dtype)?;
                let fortran = matches!(self.resolve(fortran)?, Value::Bool(true));
                let data = match self.resolve(data)? {
                    v @ (Value::Bytes(_) | Value::ByteArray(_)) => {
                        self.charge(scalar_cost(v))?;
                        v.clone()
                    }
                    _ => {
                        return Err(PickleError::Array(
                            "only arrays of numbers can be read (object arrays pickle their items)"
                                .into(),
                        ));
                    }
                };
                Some(Ok(Array {
                    data,
                    dtype,
                    shape,
                    fortran,
                }))
            }
            other => {
                return Err(self.corrupt(format!(
                    "BUILD on a {}: keel sets no object state",
                    other.type_name()
                )));
            }
        };
        let target = self.top_mut()?;
        match (built, target) {
            (Some(Err(order)), Value::Dtype(d)) => d.order = order,
            (Some(Ok(array)), target @ Value::PendingArray) => {
                *target = Value::Array(Box::new(array));
            }
            _ => return Err(self.corrupt("BUILD target changed")),
        }
        Ok(())
    }
}

/// What cloning a non-container value costs against the budget (its owned bytes).
fn scalar_cost(v: &Value<'_>) -> usize {
    match v {
        Value::BigInt(Cow::Owned(b))
        | Value::Bytes(Cow::Owned(b))
        | Value::ByteArray(Cow::Owned(b)) => b.len() / 8,
        Value::Str(Cow::Owned(s)) => s.len() / 8,
        Value::Array(a) => a.shape.len() + scalar_cost(&a.data),
        _ => 0,
    }
}
