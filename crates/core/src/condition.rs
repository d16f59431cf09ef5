//! Condition language of allocation rules: parse, type-check, evaluate, explain.
//!
//! `tier == "A" and (region ^= "上海" or attr.annual_revenue >= 1000000)`. Conditions are
//! parsed once into a flat tree of nodes; evaluation walks it without allocating, and a
//! mismatch names the node that decided it so the trace can explain it later.

use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

use crate::customer::{
    customer_column, is_attribute_key, Cell, ConditionKind, Customer, CustomerColumn,
    Fact as FieldValue, StoredType, CUSTOMER_COLUMNS,
};
use crate::ids::CustomerId;

/// A syntax or type error inside a condition, located 1-based within the condition text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ConditionSyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Index of a node in a condition's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodeId(pub u32);

/// The fields a condition may name, for error messages.
fn field_names() -> String {
    CUSTOMER_COLUMNS
        .iter()
        .filter(|column| column.condition.is_some())
        .map(|column| column.name)
        .chain(["score", "clv", "p_alive", "rfm_segment", "attr.KEY"])
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone)]
enum Field {
    /// A column of the customer record that rules may read (see [`CUSTOMER_COLUMNS`]).
    Column(&'static CustomerColumn),
    /// Measured by grading (`allot score`); unknown until the first run.
    Score,
    Clv,
    PAlive,
    RfmSegment,
    Attribute(String),
}

impl PartialEq for Field {
    fn eq(&self, other: &Field) -> bool {
        match (self, other) {
            (Field::Column(left), Field::Column(right)) => std::ptr::eq(*left, *right),
            (Field::Score, Field::Score)
            | (Field::Clv, Field::Clv)
            | (Field::PAlive, Field::PAlive)
            | (Field::RfmSegment, Field::RfmSegment) => true,
            (Field::Attribute(left), Field::Attribute(right)) => left == right,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Text,
    Number,
    /// Custom attributes are text that may be compared as numbers.
    Attribute,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        if let Some(column) = customer_column(name).filter(|column| column.condition.is_some()) {
            return Some(Field::Column(column));
        }
        Some(match name {
            "score" => Field::Score,
            "clv" => Field::Clv,
            "p_alive" => Field::PAlive,
            "rfm_segment" => Field::RfmSegment,
            other => {
                let key = other.strip_prefix("attr.")?;
                if !is_attribute_key(key) {
                    return None;
                }
                Field::Attribute(key.to_string())
            }
        })
    }

    fn kind(&self) -> FieldKind {
        match self {
            Field::Column(column) if column.condition == Some(ConditionKind::Number) => {
                FieldKind::Number
            }
            Field::Column(_) | Field::RfmSegment => FieldKind::Text,
            Field::Score | Field::Clv | Field::PAlive => FieldKind::Number,
            Field::Attribute(_) => FieldKind::Attribute,
        }
    }

    /// Whether `^=` compares whole `/`-separated segments.
    fn is_region(&self) -> bool {
        matches!(self, Field::Column(column) if column.condition == Some(ConditionKind::Region))
    }

    fn name(&self) -> String {
        match self {
            Field::Column(column) => column.name.to_string(),
            Field::Score => "score".to_string(),
            Field::Clv => "clv".to_string(),
            Field::PAlive => "p_alive".to_string(),
            Field::RfmSegment => "rfm_segment".to_string(),
            Field::Attribute(key) => format!("attr.{key}"),
        }
    }

    /// The customer's value; empty text, no size or a missing attribute is unknown.
    fn value<'a>(&self, customer: &'a Customer) -> FieldValue<'a> {
        let text = |value: &'a str| {
            if value.is_empty() {
                FieldValue::Unknown
            } else {
                FieldValue::Text(value)
            }
        };
        let number = |value: Option<f64>| value.map_or(FieldValue::Unknown, FieldValue::Number);
        match self {
            Field::Column(column) => (column.fact)(customer),
            Field::Score => number(customer.value.score),
            Field::Clv => number(customer.value.clv),
            Field::PAlive => number(customer.value.p_alive),
            Field::RfmSegment => customer
                .value
                .rfm_segment
                .as_deref()
                .map_or(FieldValue::Unknown, text),
            Field::Attribute(key) => customer
                .attributes
                .get(key)
                .map_or(FieldValue::Unknown, |value| text(value)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Prefix,
    Contains,
}

impl Operator {
    fn is_ordering(self) -> bool {
        matches!(
            self,
            Operator::Greater | Operator::GreaterOrEqual | Operator::Less | Operator::LessOrEqual
        )
    }
}

#[derive(Debug, Clone)]
enum Node {
    Constant(bool),
    Compare {
        field: Field,
        operator: Operator,
        literal: Literal,
    },
    InList {
        field: Field,
        negated: bool,
        values: Vec<Literal>,
    },
    And(Vec<usize>),
    Or(Vec<usize>),
    Not(usize),
}

#[derive(Debug, Clone)]
struct NodeData {
    node: Node,
    /// Byte range of the node's text in the source, for explanations.
    start: usize,
    end: usize,
}

/// A parsed, type-checked condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    nodes: Vec<NodeData>,
    root: usize,
    /// The fields the condition reads, in order of first use, collected once at parse.
    read_fields: Vec<Field>,
}

/// Outcome of one comparison, with the reason when an attribute was not a number.
enum ComparisonOutcome {
    Matched,
    NotMatched,
}

/// A custom attribute read as a number: finite decimals only, so "NaN" or "Infinity" in a
/// spreadsheet cell is not a number that passes every threshold.
fn attribute_number(text: &str) -> Option<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
}

fn compare_numbers(operator: Operator, left: f64, right: f64) -> bool {
    match operator {
        Operator::Equal => left == right,
        Operator::NotEqual => left != right,
        Operator::Greater => left > right,
        Operator::GreaterOrEqual => left >= right,
        Operator::Less => left < right,
        Operator::LessOrEqual => left <= right,
        Operator::Prefix | Operator::Contains => false,
    }
}

fn compare(
    field: &Field,
    operator: Operator,
    literal: &Literal,
    value: FieldValue<'_>,
) -> ComparisonOutcome {
    let matched = match (value, literal) {
        (FieldValue::Unknown, _) => false,
        (FieldValue::Number(number), Literal::Number(expected)) => {
            compare_numbers(operator, number, *expected)
        }
        (FieldValue::Text(text), Literal::Number(expected)) => match attribute_number(text) {
            Some(number) => compare_numbers(operator, number, *expected),
            None => false,
        },
        (FieldValue::Text(text), Literal::Text(expected)) => match operator {
            Operator::Equal => text == expected,
            Operator::NotEqual => text != expected,
            Operator::Prefix => {
                if field.is_region() {
                    let prefix = expected.trim_end_matches('/');
                    match text.strip_prefix(prefix) {
                        Some(rest) => rest.is_empty() || rest.starts_with('/'),
                        None => false,
                    }
                } else {
                    text.starts_with(expected.as_str())
                }
            }
            Operator::Contains => text.split('|').any(|item| item.trim() == expected),
            _ => false,
        },
        (FieldValue::Number(_), Literal::Text(_)) => false,
    };
    if matched {
        ComparisonOutcome::Matched
    } else {
        ComparisonOutcome::NotMatched
    }
}

impl Condition {
    /// Parses and type-checks a condition.
    pub fn parse(source: &str) -> Result<Condition, ConditionSyntaxError> {
        Self::parse_checked(source, true)
    }

    /// Parses a condition that was accepted when it was stored. Checks added since, which only
    /// refuse literals that cannot be meant (a segment that does not exist, a p_alive above 1),
    /// are left out, so an older rules version still routes and its decisions still read back.
    pub fn parse_stored(source: &str) -> Result<Condition, ConditionSyntaxError> {
        Self::parse_checked(source, false)
    }

    fn parse_checked(source: &str, strict: bool) -> Result<Condition, ConditionSyntaxError> {
        let tokens = tokenize(source)?;
        let mut parser = Parser {
            source,
            tokens,
            position: 0,
            nodes: Vec::new(),
            depth: 0,
            strict,
        };
        let root = parser.parse_or()?;
        if let Some(token) = parser.tokens.get(parser.position) {
            return Err(parser.error_at(
                token.start,
                format!(
                    "unexpected '{}' after the end of the condition",
                    token.text(source)
                ),
            ));
        }
        let mut condition = Condition {
            source: source.to_string(),
            nodes: parser.nodes,
            root,
            read_fields: Vec::new(),
        };
        let mut read_fields = Vec::new();
        condition.collect_fields(root, &mut read_fields);
        condition.read_fields = read_fields;
        Ok(condition)
    }

    /// The condition `true`.
    pub fn always() -> Condition {
        Condition {
            source: "true".to_string(),
            nodes: vec![NodeData {
                node: Node::Constant(true),
                start: 0,
                end: 4,
            }],
            root: 0,
            read_fields: Vec::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The words the condition compares the customer column `column` with (by `==`, `!=`, an
    /// order or a list), each with the byte offset in the condition of the comparison naming
    /// it: what a rules check holds against the policy's tiers and stages.
    pub fn texts_compared_with(&self, column: &str) -> Vec<(&str, usize)> {
        let mut found = Vec::new();
        for data in &self.nodes {
            let (field, literals) = match &data.node {
                Node::Compare { field, literal, .. } => (field, std::slice::from_ref(literal)),
                Node::InList { field, values, .. } => (field, values.as_slice()),
                _ => continue,
            };
            if !matches!(field, Field::Column(named) if named.name == column) {
                continue;
            }
            for literal in literals {
                if let Literal::Text(text) = literal {
                    found.push((text.as_str(), data.start));
                }
            }
        }
        found
    }

    /// Ok when the customer matches; otherwise the node that decided the mismatch.
    pub fn evaluate(&self, customer: &Customer) -> Result<(), NodeId> {
        self.evaluate_node(self.root, customer)
    }

    fn evaluate_node(&self, index: usize, customer: &Customer) -> Result<(), NodeId> {
        let fail = Err(NodeId(index as u32));
        match &self.nodes[index].node {
            Node::Constant(value) => {
                if *value {
                    Ok(())
                } else {
                    fail
                }
            }
            Node::Compare {
                field,
                operator,
                literal,
            } => match compare(field, *operator, literal, field.value(customer)) {
                ComparisonOutcome::Matched => Ok(()),
                ComparisonOutcome::NotMatched => fail,
            },
            Node::InList {
                field,
                negated,
                values,
            } => {
                let value = field.value(customer);
                if matches!(value, FieldValue::Unknown) {
                    return fail;
                }
                let found = values.iter().any(|literal| {
                    matches!(
                        compare(field, Operator::Equal, literal, value),
                        ComparisonOutcome::Matched
                    )
                });
                if found != *negated {
                    Ok(())
                } else {
                    fail
                }
            }
            Node::And(children) => {
                for &child in children {
                    self.evaluate_node(child, customer)?;
                }
                Ok(())
            }
            Node::Or(children) => {
                if children
                    .iter()
                    .any(|&child| self.evaluate_node(child, customer).is_ok())
                {
                    Ok(())
                } else {
                    fail
                }
            }
            Node::Not(child) => {
                if self.evaluate_node(*child, customer).is_ok() {
                    fail
                } else {
                    Ok(())
                }
            }
        }
    }

    fn text_of(&self, index: usize) -> &str {
        let node = &self.nodes[index];
        &self.source[node.start..node.end]
    }

    fn collect_fields(&self, index: usize, fields: &mut Vec<Field>) {
        match &self.nodes[index].node {
            Node::Constant(_) => {}
            Node::Compare { field, .. } | Node::InList { field, .. } => {
                if !fields.contains(field) {
                    fields.push(field.clone());
                }
            }
            Node::And(children) | Node::Or(children) => {
                for &child in children {
                    self.collect_fields(child, fields);
                }
            }
            Node::Not(child) => self.collect_fields(*child, fields),
        }
    }

    fn describe_value(field: &Field, customer: &Customer, wants_number: bool) -> String {
        match field.value(customer) {
            FieldValue::Unknown => format!("{} is unknown", field.name()),
            FieldValue::Number(number) => format!("{} is {number}", field.name()),
            FieldValue::Text(text) => {
                if wants_number && attribute_number(text).is_none() {
                    format!("{} is \"{text}\", not a number", field.name())
                } else {
                    format!("{} is \"{text}\"", field.name())
                }
            }
        }
    }

    /// A sentence for a mismatch, quoting the sub-expression and the customer's actual values.
    pub fn explain_mismatch(&self, node: NodeId, customer: &Customer) -> String {
        let index = (node.0 as usize).min(self.nodes.len().saturating_sub(1));
        let text = self.text_of(index);
        match &self.nodes[index].node {
            Node::Constant(_) => format!("{text} is always false"),
            Node::Compare { field, literal, .. } => format!(
                "{text} is false: {}",
                Self::describe_value(field, customer, matches!(literal, Literal::Number(_)))
            ),
            Node::InList { field, values, .. } => format!(
                "{text} is false: {}",
                Self::describe_value(
                    field,
                    customer,
                    matches!(values.first(), Some(Literal::Number(_)))
                )
            ),
            Node::Or(children) => {
                // Every alternative failed: say why each did, in its own words.
                let reasons: Vec<String> = children
                    .iter()
                    .map(|&child| match self.evaluate_node(child, customer) {
                        Err(failed) => self.explain_mismatch(failed, customer),
                        Ok(()) => format!("{} matched", self.text_of(child)),
                    })
                    .collect();
                format!("({text}) is false: {}", reasons.join("; "))
            }
            Node::And(_) => {
                let mut fields = Vec::new();
                self.collect_fields(index, &mut fields);
                let values: Vec<String> = fields
                    .iter()
                    .map(|field| Self::describe_value(field, customer, false))
                    .collect();
                format!("({text}) is false: {}", values.join(", "))
            }
            Node::Not(child) => format!("{text} is false: {} matched", self.text_of(*child)),
        }
    }

    /// Field names the condition reads, in order of first use.
    pub fn fields(&self) -> Vec<String> {
        self.read_fields.iter().map(Field::name).collect()
    }

    /// Adds the customer's known values of the fields this condition reads to `facts`, as
    /// text by field name: enough for [`customer_from_facts`] to rebuild a customer that this
    /// condition evaluates and explains exactly as it did this one.
    pub fn record_facts(&self, customer: &Customer, facts: &mut BTreeMap<String, String>) {
        for field in &self.read_fields {
            let text = match field.value(customer) {
                FieldValue::Unknown => continue,
                FieldValue::Text(text) => text.to_string(),
                // Rust prints the shortest text that parses back to the same f64.
                FieldValue::Number(number) => number.to_string(),
            };
            facts.entry(field.name()).or_insert(text);
        }
    }
}

/// A customer with only the given facts known (see [`Condition::record_facts`]); a fact that
/// names no field, or does not parse, is left unknown.
pub fn customer_from_facts(id: CustomerId, facts: &BTreeMap<String, String>) -> Customer {
    let mut customer = Customer::new(id);
    for (name, text) in facts {
        let Some(field) = Field::parse(name) else {
            continue;
        };
        let number = || text.parse::<f64>().ok();
        match field {
            Field::Column(column) => {
                let cell = match column.stored_as {
                    StoredType::Text => Cell::Text(text.clone()),
                    StoredType::Integer => text.parse().map_or(Cell::Null, Cell::Integer),
                    StoredType::Real => number().map_or(Cell::Null, Cell::Real),
                    StoredType::Timestamp => continue,
                };
                // A fact that no longer fits its column stays unknown.
                let before = customer.clone();
                if (column.load)(&mut customer, cell).is_err() {
                    customer = before;
                }
            }
            Field::Score => customer.value.score = number(),
            Field::Clv => customer.value.clv = number(),
            Field::PAlive => customer.value.p_alive = number(),
            Field::RfmSegment => customer.value.rfm_segment = Some(text.clone()),
            Field::Attribute(key) => {
                customer.attributes.insert(key, text.clone());
            }
        }
    }
    customer
}

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Word(String),
    Text(String),
    Number(f64),
    Operator(Operator),
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
}

impl Token {
    fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(own) if own.eq_ignore_ascii_case(word))
    }
}

fn position_of(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |position| position + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn syntax_error(source: &str, offset: usize, message: String) -> ConditionSyntaxError {
    let (line, column) = position_of(source, offset);
    ConditionSyntaxError {
        line,
        column,
        message,
    }
}

fn is_word_character(character: char) -> bool {
    character.is_alphanumeric() || character == '_' || character == '.' || character == '-'
}

fn tokenize(source: &str) -> Result<Vec<Token>, ConditionSyntaxError> {
    let scanner = Scanner {
        source,
        characters: source.char_indices().collect(),
    };
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < scanner.characters.len() {
        let (start, character) = scanner.characters[index];
        if character.is_whitespace() {
            index += 1;
            continue;
        }
        let next = scanner.character_at(index + 1);
        let single = |kind: TokenKind| {
            let end = start + character.len_utf8();
            (Token { kind, start, end }, index + 1)
        };
        let (token, after) = match character {
            '(' => single(TokenKind::OpenParen),
            ')' => single(TokenKind::CloseParen),
            '[' => single(TokenKind::OpenBracket),
            ']' => single(TokenKind::CloseBracket),
            ',' => single(TokenKind::Comma),
            '=' | '!' | '>' | '<' | '^' => scanner.read_operator(index)?,
            '"' | '\'' => scanner.read_quoted_text(index)?,
            _ if character.is_ascii_digit()
                || (character == '-'
                    && next.is_some_and(|next| next.is_ascii_digit() || next == '.')) =>
            {
                scanner.read_number(index)?
            }
            _ if is_word_character(character) => scanner.read_word(index),
            other => {
                return Err(syntax_error(
                    source,
                    start,
                    format!("unexpected character '{other}'"),
                ));
            }
        };
        tokens.push(token);
        index = after;
    }
    Ok(tokens)
}

/// A condition's characters with their byte offsets: tokens are found by character, but
/// positions in errors and token spans are byte offsets into the source.
struct Scanner<'a> {
    source: &'a str,
    characters: Vec<(usize, char)>,
}

/// Each token reader takes the index of the token's first character and returns the token
/// with the index of the first character after it.
impl Scanner<'_> {
    fn character_at(&self, index: usize) -> Option<char> {
        self.characters.get(index).map(|(_, character)| *character)
    }

    fn offset_at(&self, index: usize) -> usize {
        self.characters
            .get(index)
            .map_or(self.source.len(), |(offset, _)| *offset)
    }

    fn read_operator(&self, index: usize) -> Result<(Token, usize), ConditionSyntaxError> {
        let (start, character) = self.characters[index];
        let (operator, length) = match (character, self.character_at(index + 1)) {
            ('=', Some('=')) => (Operator::Equal, 2),
            ('!', Some('=')) => (Operator::NotEqual, 2),
            ('>', Some('=')) => (Operator::GreaterOrEqual, 2),
            ('<', Some('=')) => (Operator::LessOrEqual, 2),
            ('^', Some('=')) => (Operator::Prefix, 2),
            ('>', _) => (Operator::Greater, 1),
            ('<', _) => (Operator::Less, 1),
            _ => {
                return Err(syntax_error(
                    self.source,
                    start,
                    format!(
                    "unknown operator '{character}'; use == != > >= < <= ^= in, not in, contains"
                ),
                ))
            }
        };
        let token = Token {
            kind: TokenKind::Operator(operator),
            start,
            end: start + length,
        };
        Ok((token, index + length))
    }

    fn read_quoted_text(&self, index: usize) -> Result<(Token, usize), ConditionSyntaxError> {
        let (start, quote) = self.characters[index];
        let mut text = String::new();
        let mut cursor = index + 1;
        loop {
            let Some(current) = self.character_at(cursor) else {
                return Err(syntax_error(
                    self.source,
                    start,
                    "unterminated string".to_string(),
                ));
            };
            if current == quote {
                break;
            }
            if current == '\\' {
                match self.character_at(cursor + 1) {
                    Some(escaped @ ('"' | '\'' | '\\')) => {
                        text.push(escaped);
                        cursor += 2;
                        continue;
                    }
                    _ => {
                        return Err(syntax_error(
                            self.source,
                            self.offset_at(cursor),
                            "unknown escape; only \\\" \\' and \\\\ are allowed".to_string(),
                        ))
                    }
                }
            }
            text.push(current);
            cursor += 1;
        }
        let token = Token {
            kind: TokenKind::Text(text),
            start,
            end: self.offset_at(cursor + 1),
        };
        Ok((token, cursor + 1))
    }

    /// Digits and dots after a first digit or minus sign; the text is then parsed whole, so
    /// `1.2.3` is one bad number rather than two good ones.
    fn read_number(&self, index: usize) -> Result<(Token, usize), ConditionSyntaxError> {
        let (start, _) = self.characters[index];
        let mut cursor = index + 1;
        while self
            .character_at(cursor)
            .is_some_and(|current| current.is_ascii_digit() || current == '.')
        {
            cursor += 1;
        }
        let end = self.offset_at(cursor);
        let text = &self.source[start..end];
        let number: f64 = text
            .parse()
            .map_err(|_| syntax_error(self.source, start, format!("'{text}' is not a number")))?;
        let token = Token {
            kind: TokenKind::Number(number),
            start,
            end,
        };
        Ok((token, cursor))
    }

    fn read_word(&self, index: usize) -> (Token, usize) {
        let (start, _) = self.characters[index];
        let mut cursor = index + 1;
        while self.character_at(cursor).is_some_and(is_word_character) {
            cursor += 1;
        }
        let end = self.offset_at(cursor);
        let token = Token {
            kind: TokenKind::Word(self.source[start..end].to_string()),
            start,
            end,
        };
        (token, cursor)
    }
}

/// Deepest nesting of parentheses and `not` a condition may have. Parsing and evaluation
/// recurse, so an unbounded depth would let one rules file overflow the stack of whoever
/// reads it; no readable rule comes near this.
pub const MAX_CONDITION_DEPTH: usize = 32;

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    position: usize,
    nodes: Vec<NodeData>,
    depth: usize,
    /// Refuse literals that cannot be meant (see [`Condition::parse_stored`]).
    strict: bool,
}

impl Parser<'_> {
    fn error_at(&self, offset: usize, message: String) -> ConditionSyntaxError {
        syntax_error(self.source, offset, message)
    }

    fn end_error(&self, expected: &str) -> ConditionSyntaxError {
        self.error_at(
            self.source.trim_end().len(),
            format!("the condition ends too early; expected {expected}"),
        )
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    /// Counts one more level of `(` or `not`, refusing to go past [`MAX_CONDITION_DEPTH`].
    fn descend(&mut self, at: usize) -> Result<(), ConditionSyntaxError> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(self.error_at(
                at,
                format!(
                    "the condition nests parentheses and 'not' more than {MAX_CONDITION_DEPTH} levels deep; split it into simpler rules"
                ),
            ));
        }
        Ok(())
    }

    fn push(&mut self, node: Node, start: usize, end: usize) -> usize {
        self.nodes.push(NodeData { node, start, end });
        self.nodes.len() - 1
    }

    fn span(&self, index: usize) -> (usize, usize) {
        (self.nodes[index].start, self.nodes[index].end)
    }

    fn parse_or(&mut self) -> Result<usize, ConditionSyntaxError> {
        let first = self.parse_and()?;
        let mut children = vec![first];
        while self.peek().is_some_and(|token| token.is_word("or")) {
            self.position += 1;
            children.push(self.parse_and()?);
        }
        if children.len() == 1 {
            return Ok(first);
        }
        let start = self.span(children[0]).0;
        let end = self.span(*children.last().expect("non-empty")).1;
        Ok(self.push(Node::Or(children), start, end))
    }

    fn parse_and(&mut self) -> Result<usize, ConditionSyntaxError> {
        let first = self.parse_unary()?;
        let mut children = vec![first];
        while self.peek().is_some_and(|token| token.is_word("and")) {
            self.position += 1;
            children.push(self.parse_unary()?);
        }
        if children.len() == 1 {
            return Ok(first);
        }
        let start = self.span(children[0]).0;
        let end = self.span(*children.last().expect("non-empty")).1;
        Ok(self.push(Node::And(children), start, end))
    }

    fn parse_unary(&mut self) -> Result<usize, ConditionSyntaxError> {
        match self.peek() {
            Some(token) if token.is_word("not") => {
                let start = token.start;
                self.position += 1;
                self.descend(start)?;
                let inner = self.parse_unary()?;
                self.depth -= 1;
                let end = self.span(inner).1;
                // Include a closing parenthesis right after the operand in the quoted text.
                let end = if self.source[end..].starts_with(')')
                    && self.source[start..end].matches('(').count()
                        > self.source[start..end].matches(')').count()
                {
                    end + 1
                } else {
                    end
                };
                Ok(self.push(Node::Not(inner), start, end))
            }
            _ => self.parse_primary(),
        }
    }

    fn parse_primary(&mut self) -> Result<usize, ConditionSyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.end_error("a comparison such as tier == \"A\""));
        };
        match &token.kind {
            TokenKind::OpenParen => {
                self.position += 1;
                self.descend(token.start)?;
                let inner = self.parse_or()?;
                self.depth -= 1;
                match self.peek() {
                    Some(close) if close.kind == TokenKind::CloseParen => {
                        self.position += 1;
                        Ok(inner)
                    }
                    Some(other) => Err(self.error_at(
                        other.start,
                        format!("expected ')' but found '{}'", other.text(self.source)),
                    )),
                    None => Err(self.error_at(token.start, "this '(' is never closed".to_string())),
                }
            }
            TokenKind::Word(word)
                if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") =>
            {
                self.position += 1;
                Ok(self.push(
                    Node::Constant(word.eq_ignore_ascii_case("true")),
                    token.start,
                    token.end,
                ))
            }
            TokenKind::Word(word) => {
                let field = Field::parse(word).ok_or_else(|| {
                    self.error_at(
                        token.start,
                        format!("unknown field '{word}'; fields are {}", field_names()),
                    )
                })?;
                self.position += 1;
                self.parse_comparison(field, token.start, word)
            }
            _ => Err(self.error_at(
                token.start,
                format!(
                    "expected a field, 'not', 'true' or '(' but found '{}'",
                    token.text(self.source)
                ),
            )),
        }
    }

    fn parse_literal(&mut self, expected: &str) -> Result<(Literal, Token), ConditionSyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.end_error(expected));
        };
        let literal = match &token.kind {
            TokenKind::Text(text) => Literal::Text(text.clone()),
            TokenKind::Number(number) => Literal::Number(*number),
            _ => {
                return Err(self.error_at(
                    token.start,
                    format!(
                        "expected {expected} but found '{}'",
                        token.text(self.source)
                    ),
                ))
            }
        };
        self.position += 1;
        Ok((literal, token))
    }

    fn check_type(
        &self,
        field: &Field,
        field_name: &str,
        operator: Operator,
        literal: &Literal,
        at: usize,
    ) -> Result<(), ConditionSyntaxError> {
        let problem = match (field.kind(), literal) {
            (FieldKind::Number, _) if matches!(operator, Operator::Prefix | Operator::Contains) => {
                Some(format!(
                    "^= and contains work on text; {field_name} is a number"
                ))
            }
            (FieldKind::Text, Literal::Number(_)) => Some(format!(
                "{field_name} is text; compare it with a quoted string"
            )),
            (FieldKind::Number, Literal::Text(_)) => Some(format!(
                "{field_name} is a number; compare it with a number, not a string"
            )),
            _ if operator.is_ordering() && matches!(literal, Literal::Text(_)) => Some(format!(
                "> >= < <= compare numbers; {field_name} cannot be ordered against a string"
            )),
            (_, Literal::Number(_))
                if matches!(operator, Operator::Prefix | Operator::Contains) =>
            {
                Some("^= and contains need a quoted string".to_string())
            }
            // A probability outside 0–1 or a score outside 0–100 can never be met (or always is):
            // a mistake, such as writing 80 for 0.8.
            (_, Literal::Number(number))
                if self.strict && *field == Field::PAlive && !(0.0..=1.0).contains(number) =>
            {
                Some(format!(
                    "p_alive is a probability from 0 to 1; {number} is outside it"
                ))
            }
            (_, Literal::Number(number))
                if self.strict && *field == Field::Score && !(0.0..=100.0).contains(number) =>
            {
                Some(format!("score runs from 0 to 100; {number} is outside it"))
            }
            // A misspelt segment would silently never match, so only known names are allowed.
            (_, Literal::Text(segment))
                if self.strict
                    && *field == Field::RfmSegment
                    && matches!(operator, Operator::Equal | Operator::NotEqual)
                    && crate::rfm_segment::RfmSegment::parse(segment).is_none() =>
            {
                Some(format!(
                    "'{segment}' is not an RFM segment; segments are {}",
                    crate::rfm_segment::RfmSegment::ALL
                        .iter()
                        .map(|segment| segment.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            _ => None,
        };
        match problem {
            Some(message) => Err(self.error_at(at, message)),
            None => Ok(()),
        }
    }

    fn parse_comparison(
        &mut self,
        field: Field,
        start: usize,
        field_name: &str,
    ) -> Result<usize, ConditionSyntaxError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.end_error(&format!("an operator after '{field_name}'")));
        };
        let (operator, negated_in) = match &token.kind {
            TokenKind::Operator(operator) => (Some(*operator), false),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("contains") => (Some(Operator::Contains), false),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("in") => (None, false),
            TokenKind::Word(word) if word.eq_ignore_ascii_case("not") => {
                if self.tokens.get(self.position + 1).is_some_and(|next| next.is_word("in")) {
                    self.position += 1;
                    (None, true)
                } else {
                    return Err(self.error_at(token.start, format!("after '{field_name}', 'not' must be followed by 'in'")));
                }
            }
            _ => {
                return Err(self.error_at(
                    token.start,
                    format!("expected an operator (== != > >= < <= ^= in, not in, contains) after '{field_name}' but found '{}'", token.text(self.source)),
                ))
            }
        };
        self.position += 1;
        match operator {
            Some(operator) => {
                let (literal, literal_token) = self.parse_literal("a string or number")?;
                self.check_type(&field, field_name, operator, &literal, literal_token.start)?;
                Ok(self.push(
                    Node::Compare {
                        field,
                        operator,
                        literal,
                    },
                    start,
                    literal_token.end,
                ))
            }
            None => {
                let open = self.peek().cloned();
                match open {
                    Some(open) if open.kind == TokenKind::OpenBracket => self.position += 1,
                    Some(other) => {
                        return Err(self
                            .error_at(other.start, "expected '[' to start the list".to_string()))
                    }
                    None => return Err(self.end_error("a list such as [\"A\", \"B\"]")),
                }
                let mut values: Vec<Literal> = Vec::new();
                loop {
                    if let Some(close) = self.peek() {
                        if close.kind == TokenKind::CloseBracket && !values.is_empty() {
                            break;
                        }
                        if close.kind == TokenKind::CloseBracket {
                            return Err(self.error_at(close.start, "the list is empty".to_string()));
                        }
                    }
                    let (literal, literal_token) =
                        self.parse_literal("a string or number in the list")?;
                    self.check_type(
                        &field,
                        field_name,
                        Operator::Equal,
                        &literal,
                        literal_token.start,
                    )?;
                    if let Some(first) = values.first() {
                        if std::mem::discriminant(first) != std::mem::discriminant(&literal) {
                            return Err(self.error_at(
                                literal_token.start,
                                "a list must hold only strings or only numbers".to_string(),
                            ));
                        }
                    }
                    values.push(literal);
                    match self.peek() {
                        Some(comma) if comma.kind == TokenKind::Comma => self.position += 1,
                        Some(close) if close.kind == TokenKind::CloseBracket => {}
                        Some(other) => {
                            return Err(self.error_at(
                                other.start,
                                format!(
                                    "expected ',' or ']' but found '{}'",
                                    other.text(self.source)
                                ),
                            ))
                        }
                        None => return Err(self.end_error("']' to close the list")),
                    }
                }
                let close = self.tokens[self.position].clone();
                self.position += 1;
                Ok(self.push(
                    Node::InList {
                        field,
                        negated: negated_in,
                        values,
                    },
                    start,
                    close.end,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CustomerId, Region};

    fn sample_customer() -> Customer {
        let mut customer = Customer::new(CustomerId::parse("c1").unwrap());
        customer.name = "深圳云帆科技".to_string();
        customer.customer_type = "enterprise".to_string();
        customer.industry = "金融".to_string();
        customer.region = Region::parse("广东/深圳/南山").unwrap();
        customer.size = Some(120);
        customer.stage = Some(crate::StageName::from_stored("商机"));
        customer.source = "转介绍".to_string();
        customer.tier = Some(crate::TierName::from_stored("A"));
        customer.workload = crate::Workload::parse("workload", "2").unwrap();
        customer
            .attributes
            .insert("annual_revenue".to_string(), "5000000".to_string());
        customer
            .attributes
            .insert("product_lines".to_string(), "CRM| ERP |BI".to_string());
        customer
            .attributes
            .insert("note".to_string(), "abc".to_string());
        customer.value = crate::customer::MeasuredValue {
            score: Some(72.5),
            clv: Some(18_000.0),
            p_alive: Some(0.35),
            rfm_segment: Some("at_risk".to_string()),
        };
        customer
    }

    fn check(condition: &str, expected: bool) {
        let parsed =
            Condition::parse(condition).unwrap_or_else(|error| panic!("{condition}: {error}"));
        assert_eq!(
            parsed.evaluate(&sample_customer()).is_ok(),
            expected,
            "{condition}"
        );
    }

    #[test]
    fn operators_evaluate_as_documented() {
        for (condition, expected) in [
            ("true", true),
            ("false", false),
            ("tier == \"A\"", true),
            ("tier == 'B'", false),
            ("score >= 70", true),
            ("score > 72.5", false),
            ("clv > 10000 and p_alive < 0.5", true),
            ("rfm_segment in [\"at_risk\", \"cannot_lose\"]", true),
            ("rfm_segment == \"champions\"", false),
            ("tier != \"B\"", true),
            ("size > 100", true),
            ("size >= 120", true),
            ("size < 120", false),
            ("size <= 120", true),
            ("workload == 2", true),
            ("workload > 2.5", false),
            ("region ^= \"广东\"", true),
            ("region ^= \"广东/深圳\"", true),
            ("region ^= \"广东/深\"", false),
            ("region ^= \"广\"", false),
            ("name ^= \"深圳\"", true),
            ("tier in [\"A\", \"B\"]", true),
            ("tier in [\"B\"]", false),
            ("tier not in [\"B\", \"C\"]", true),
            ("size in [100, 120]", true),
            ("attr.product_lines contains \"ERP\"", true),
            ("attr.product_lines contains \"ER\"", false),
            ("attr.annual_revenue >= 1000000", true),
            ("attr.annual_revenue == 5000000", true),
            ("attr.annual_revenue == \"5000000\"", true),
            ("attr.note > 1", false),
            ("attr.missing == \"x\"", false),
            ("attr.missing != \"x\"", false),
            ("industry == \"金融\" and tier == \"A\"", true),
            ("industry == \"金融\" and tier == \"B\"", false),
            ("tier == \"B\" or source == \"转介绍\"", true),
            ("not tier == \"B\"", true),
            ("not (tier == \"A\")", false),
            ("tier == \"B\" or tier == \"A\" and size > 1000", false),
            ("(tier == \"B\" or tier == \"A\") and size > 100", true),
        ] {
            check(condition, expected);
        }
    }

    #[test]
    fn unknown_values_make_every_comparison_false() {
        let customer = Customer::new(CustomerId::parse("c2").unwrap());
        for condition in [
            "size > 0",
            "size != 5",
            "size not in [1, 2]",
            "industry != \"金融\"",
            "industry not in [\"金融\"]",
            "region ^= \"广东\"",
            "attr.x == \"y\"",
            "attr.x != \"y\"",
            "attr.x contains \"y\"",
            // Measured fields are unknown until the first grading run.
            "score >= 0",
            "clv < 1",
            "p_alive != 1",
            "rfm_segment != \"lost\"",
        ] {
            let parsed = Condition::parse(condition).unwrap();
            assert!(parsed.evaluate(&customer).is_err(), "{condition}");
        }
        // "NaN" and "Infinity" in a cell are not numbers, whatever Rust's parser thinks.
        for cell in ["NaN", "inf", "Infinity", "-inf"] {
            let mut odd = customer.clone();
            odd.attributes.insert("rev".to_string(), cell.to_string());
            for condition in ["attr.rev >= 1000000", "attr.rev != 5", "attr.rev < 0"] {
                let parsed = Condition::parse(condition).unwrap();
                let node = parsed.evaluate(&odd).expect_err(condition);
                assert!(
                    parsed
                        .explain_mismatch(node, &odd)
                        .ends_with("not a number"),
                    "{cell}: {condition}"
                );
            }
        }
        let negated = Condition::parse("not size > 0").unwrap();
        assert!(negated.evaluate(&customer).is_ok());
    }

    fn check_error(condition: &str, line: usize, column: usize, message_part: &str) {
        let error = Condition::parse(condition).expect_err(condition);
        assert_eq!(
            (error.line, error.column),
            (line, column),
            "{condition}: {error}"
        );
        assert!(
            error.message.contains(message_part),
            "{condition}: '{}' lacks '{message_part}'",
            error.message
        );
    }

    #[test]
    fn syntax_and_type_errors_are_located() {
        check_error("colour == \"red\"", 1, 1, "unknown field 'colour'");
        check_error("tier == 5", 1, 9, "tier is text");
        check_error("score == \"high\"", 1, 10, "score is a number");
        check_error("size == \"big\"", 1, 9, "size is a number");
        check_error("tier > \"A\"", 1, 8, "compare numbers");
        check_error("size ^= \"1\"", 1, 9, "work on text");
        check_error("tier in [\"A\", 1]", 1, 15, "tier is text");
        check_error(
            "attr.x in [\"A\", 1]",
            1,
            17,
            "only strings or only numbers",
        );
        check_error("tier in []", 1, 10, "empty");
        check_error("tier == \"A", 1, 9, "unterminated");
        check_error("(tier == \"A\"", 1, 1, "never closed");
        check_error("tier == \"A\" tier", 1, 13, "unexpected 'tier'");
        check_error("tier = \"A\"", 1, 6, "unknown operator");
        check_error("tier == \"A\" and", 1, 16, "ends too early");
        check_error(
            "tier == \"A\" and\n  regoin ^= \"上海\"",
            2,
            3,
            "unknown field 'regoin'",
        );
        check_error("tier not \"A\"", 1, 6, "followed by 'in'");
        check_error("attr. == \"x\"", 1, 1, "unknown field");
        check_error("p_alive >= 1.5", 1, 12, "probability from 0 to 1");
        check_error("score > 800", 1, 9, "0 to 100");
        check_error(
            "rfm_segment == \"champion\"",
            1,
            16,
            "'champion' is not an RFM segment",
        );
        check_error(
            "rfm_segment in [\"lost\", \"atrisk\"]",
            1,
            25,
            "'atrisk' is not an RFM segment",
        );
    }

    #[test]
    fn nesting_is_bounded_so_no_file_can_overflow_the_stack() {
        let nested = |depth: usize| format!("{}true{}", "(".repeat(depth), ")".repeat(depth));
        assert!(Condition::parse(&nested(MAX_CONDITION_DEPTH)).is_ok());
        check_error(
            &nested(MAX_CONDITION_DEPTH + 1),
            1,
            MAX_CONDITION_DEPTH + 1,
            "more than 32 levels deep",
        );
        check_error(&nested(100_000), 1, 33, "levels deep");
        let nots = format!("{}true", "not ".repeat(MAX_CONDITION_DEPTH + 1));
        check_error(&nots, 1, 129, "levels deep");
        // Long flat chains are fine: they do not recurse.
        let chain = vec!["tier == \"A\""; 5_000].join(" or ");
        assert!(Condition::parse(&chain).is_ok());
    }

    fn check_explanation(condition: &str, expected: &str) {
        let parsed = Condition::parse(condition).unwrap();
        let customer = sample_customer();
        let node = parsed.evaluate(&customer).expect_err(condition);
        assert_eq!(parsed.explain_mismatch(node, &customer), expected);
    }

    #[test]
    fn mismatches_are_explained_with_actual_values() {
        check_explanation("tier == \"B\"", "tier == \"B\" is false: tier is \"A\"");
        check_explanation(
            "industry == \"金融\" and size >= 500",
            "size >= 500 is false: size is 120",
        );
        check_explanation(
            "attr.note > 5",
            "attr.note > 5 is false: attr.note is \"abc\", not a number",
        );
        check_explanation(
            "attr.missing == \"x\"",
            "attr.missing == \"x\" is false: attr.missing is unknown",
        );
        check_explanation(
            "region ^= \"上海\" or region ^= \"浙江\"",
            "(region ^= \"上海\" or region ^= \"浙江\") is false: region ^= \"上海\" is false: region is \"广东/深圳/南山\"; region ^= \"浙江\" is false: region is \"广东/深圳/南山\"",
        );
        check_explanation(
            "attr.note > 5 or tier == \"Q\"",
            "(attr.note > 5 or tier == \"Q\") is false: attr.note > 5 is false: attr.note is \"abc\", not a number; tier == \"Q\" is false: tier is \"A\"",
        );
        check_explanation(
            "not (industry == \"金融\")",
            "not (industry == \"金融\") is false: industry == \"金融\" matched",
        );
        check_explanation(
            "tier in [\"B\", \"C\"]",
            "tier in [\"B\", \"C\"] is false: tier is \"A\"",
        );
        check_explanation("false", "false is always false");
    }

    #[test]
    fn fields_are_listed_once_in_order() {
        let parsed =
            Condition::parse("tier == \"A\" and (attr.x == 1 or tier == \"B\") and size > 1")
                .unwrap();
        assert_eq!(parsed.fields(), ["tier", "attr.x", "size"]);
        assert!(Condition::always().evaluate(&sample_customer()).is_ok());
    }
}
