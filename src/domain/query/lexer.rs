//! Splits query text into terms `field op value`, keeping character positions for errors.

use super::{Op, QueryError};

/// An untyped value as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RawValue {
    Scalar(String),
    /// Items with their positions.
    List(Vec<(String, usize)>),
}

/// One `field op value` term.
pub(crate) struct Term {
    pub field: String,
    pub field_pos: usize,
    pub op: Op,
    pub value: RawValue,
    /// The scalar text (empty for lists), for directives such as `sort=`.
    pub raw_value: String,
    pub value_pos: usize,
}

pub(crate) struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

/// Whether `s` can be written without quotes.
pub(crate) fn is_bare(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['[', '('])
        && !s
            .chars()
            .any(|c| c.is_whitespace() || "\"'[](),".contains(c))
}

impl Lexer {
    pub fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    /// The next term, or `None` at the end of the text.
    pub fn term(&mut self) -> Result<Option<Term>, QueryError> {
        self.skip_ws();
        let Some(first) = self.peek() else {
            return Ok(None);
        };
        let field_pos = self.pos;
        let field: String = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if field.is_empty() {
            return Err(QueryError::new(
                field_pos,
                format!("expected a field name, found '{first}'"),
            ));
        }
        let op = self.operator(&field, field_pos)?;
        self.skip_ws();
        let value_pos = self.pos;
        let value = match self.peek() {
            Some('[' | '(') => RawValue::List(self.list()?),
            Some('"' | '\'') => RawValue::Scalar(self.quoted()?),
            _ => RawValue::Scalar(self.take_while(|c| !c.is_whitespace())),
        };
        let raw_value = match &value {
            RawValue::Scalar(s) if s.is_empty() => {
                return Err(QueryError::new(
                    value_pos,
                    format!("missing value after '{field}{}'", op.as_str().trim()),
                ));
            }
            RawValue::Scalar(s) => s.clone(),
            RawValue::List(_) => String::new(),
        };
        Ok(Some(Term {
            field,
            field_pos,
            op,
            value,
            raw_value,
            value_pos,
        }))
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn operator(&mut self, field: &str, field_pos: usize) -> Result<Op, QueryError> {
        let before_ws = self.pos;
        self.skip_ws();
        for (text, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("~", Op::Contains),
        ] {
            if self.starts_with(text) {
                self.pos += text.chars().count();
                return Ok(op);
            }
        }
        let word_pos = self.pos;
        let word = self
            .take_while(|c| c.is_ascii_alphabetic())
            .to_ascii_lowercase();
        let separated = self
            .peek()
            .is_none_or(|c| c.is_whitespace() || c == '[' || c == '(');
        match word.as_str() {
            "in" if separated && word_pos > before_ws => return Ok(Op::In),
            "notin" if separated && word_pos > before_ws => return Ok(Op::NotIn),
            _ => {}
        }
        self.pos = word_pos;
        if super::Field::from_name(field).is_none()
            && !matches!(
                field,
                "sort" | "limit" | "weights" | "model" | "precision" | "batch"
            )
        {
            let mut err = QueryError::new(
                field_pos,
                format!("expected field op value, found the bare word {field:?}"),
            );
            err.suggestion = Some(format!("gpu={field}"));
            return Err(err);
        }
        Err(QueryError::new(
            self.pos,
            format!("expected an operator (= != < <= > >= ~ in notin) after {field:?}"),
        ))
    }

    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                c if c == quote => return Ok(out),
                c => out.push(c),
            }
        }
        Err(QueryError::new(start, format!("unclosed {quote} quote")))
    }

    fn list(&mut self) -> Result<Vec<(String, usize)>, QueryError> {
        let start = self.pos;
        let close = if self.peek() == Some('[') { ']' } else { ')' };
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => {
                    return Err(QueryError::new(
                        start,
                        format!("unclosed list: expected '{close}'"),
                    ))
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let item_pos = self.pos;
            let item = if matches!(self.peek(), Some('"' | '\'')) {
                self.quoted()?
            } else {
                self.take_while(|c| !c.is_whitespace() && c != ',' && c != close)
            };
            if item.is_empty() {
                return Err(QueryError::new(item_pos, "empty list item"));
            }
            items.push((item, item_pos));
            self.skip_ws();
            if self.peek() == Some(',') {
                self.pos += 1;
            }
        }
        if items.is_empty() {
            return Err(QueryError::new(start, "empty list"));
        }
        Ok(items)
    }
}
