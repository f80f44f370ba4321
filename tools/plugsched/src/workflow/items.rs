// SPDX-License-Identifier: GPL-2.0

//! The top-level items of a C source, for comparing two versions of an
//! extracted scheduler file item by item: function definitions,
//! declarations (prototypes and variables), and struct/union definitions,
//! including those inside `#if` blocks.

use std::collections::BTreeMap;

use anyhow::Result;
use tree_sitter::Node;

use crate::boundary::extract::{
    declarator_name,
    parse,
    text, //
};

/// What kind of item a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A function definition (with a body).
    Function,
    /// A declaration: a prototype, or a variable (`extern` or defined).
    Declaration,
    /// A struct or union definition (with its fields).
    Type,
}

/// Everything a source says about one name of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// The texts of its occurrences (several under different `#if`s),
    /// whitespace-normalised.
    pub texts: Vec<String>,
    /// For functions: the texts before their bodies (return type, name,
    /// parameters), whitespace-normalised.
    pub signatures: Vec<String>,
    /// For declarations: whether one declares a function.
    pub is_prototype: bool,
}

/// The items of a source, by kind and name.
pub type Items = BTreeMap<(Kind, String), Item>;

/// `s` with every run of whitespace made one blank, so that re-indenting
/// is not a change.
fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parse `src` and collect its items.
pub fn items(src: &str) -> Result<Items> {
    let tree = parse(src)?;
    let mut out = Items::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "function_definition" => function(n, src, &mut out),
            "declaration" => {
                declaration(n, src, &mut out);
                push_children(n, &mut stack);
            }
            "struct_specifier" | "union_specifier" => {
                record_type(n, src, &mut out);
                push_children(n, &mut stack);
            }
            // Bodies of functions are searched by `function` only.
            "compound_statement" => {}
            _ => push_children(n, &mut stack),
        }
    }
    Ok(out)
}

fn push_children<'t>(n: Node<'t>, stack: &mut Vec<Node<'t>>) {
    let mut c = n.walk();
    let kids: Vec<Node<'t>> = n.children(&mut c).collect();
    stack.extend(kids.into_iter().rev());
}

fn entry<'a>(out: &'a mut Items, kind: Kind, name: &str) -> &'a mut Item {
    out.entry((kind, name.to_string())).or_default()
}

fn function(n: Node<'_>, src: &str, out: &mut Items) {
    let Some(decl) = n.child_by_field_name("declarator") else {
        return;
    };
    let Some((id, _)) = declarator_name(decl) else {
        return;
    };
    let head_end = n
        .child_by_field_name("body")
        .map_or(n.end_byte(), |b| b.start_byte());
    let item = entry(out, Kind::Function, text(id, src));
    item.texts.push(normalise(text(n, src)));
    item.signatures
        .push(normalise(&src[n.start_byte()..head_end]));
}

fn declaration(n: Node<'_>, src: &str, out: &mut Items) {
    let mut c = n.walk();
    for d in n.children_by_field_name("declarator", &mut c) {
        let Some((id, is_fn)) = declarator_name(d) else {
            continue;
        };
        let item = entry(out, Kind::Declaration, text(id, src));
        item.texts.push(normalise(text(n, src)));
        item.is_prototype |= is_fn;
    }
}

fn record_type(n: Node<'_>, src: &str, out: &mut Items) {
    if n.child_by_field_name("body").is_none() {
        return;
    }
    let Some(name) = n.child_by_field_name("name") else {
        return;
    };
    let kind = if n.kind() == "struct_specifier" {
        "struct"
    } else {
        "union"
    };
    let item = entry(out, Kind::Type, &format!("{kind} {}", text(name, src)));
    item.texts.push(normalise(text(n, src)));
}

/// How an item differs between two versions of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both, with different text.
    Modified,
}

/// The items that differ between `old` and `new`, with both versions
/// (an empty item where one side has none).
pub fn diff(old: &Items, new: &Items) -> Vec<(Kind, String, Change, Item, Item)> {
    let mut out = Vec::new();
    for (key, o) in old {
        match new.get(key) {
            None => out.push((
                key.0,
                key.1.clone(),
                Change::Removed,
                o.clone(),
                Item::default(),
            )),
            Some(n) if n.texts != o.texts => {
                out.push((key.0, key.1.clone(), Change::Modified, o.clone(), n.clone()))
            }
            Some(_) => {}
        }
    }
    for (key, n) in new {
        if !old.contains_key(key) {
            out.push((
                key.0,
                key.1.clone(),
                Change::Added,
                Item::default(),
                n.clone(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "\
struct rq {
\tint nr;
};
extern int shared_x;
static int private_y = 1;
int vm_fn(int a);\t/* plugsched: external */
static int helper(int a)
{
\treturn a + 1;
}
#ifdef CONFIG_X
static void both(void) { }
#else
static void both(void) { int z; }
#endif
";

    fn key(kind: Kind, name: &str) -> (Kind, String) {
        (kind, name.to_string())
    }

    #[test]
    fn finds_every_kind_of_item() {
        let it = items(OLD).unwrap();
        assert!(it.contains_key(&key(Kind::Type, "struct rq")));
        assert!(it.contains_key(&key(Kind::Declaration, "shared_x")));
        assert!(it.contains_key(&key(Kind::Declaration, "private_y")));
        assert!(it[&key(Kind::Declaration, "vm_fn")].is_prototype);
        assert!(!it[&key(Kind::Declaration, "shared_x")].is_prototype);
        assert_eq!(it[&key(Kind::Function, "helper")].texts.len(), 1);
        assert_eq!(it[&key(Kind::Function, "both")].texts.len(), 2);
        // (Local variables are not top-level items.)
        assert!(!it.contains_key(&key(Kind::Declaration, "z")));
    }

    #[test]
    fn reindenting_is_no_change_but_an_edit_is() {
        let old = items(OLD).unwrap();
        let same = items(&OLD.replace("\treturn a + 1;", "    return   a + 1;")).unwrap();
        assert!(diff(&old, &same).is_empty());
        let new = items(&OLD.replace("a + 1", "a + 2")).unwrap();
        let d = diff(&old, &new);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].0, d[0].1.as_str(), d[0].2),
            (Kind::Function, "helper", Change::Modified)
        );
        assert_eq!(d[0].3.signatures, d[0].4.signatures);
    }

    #[test]
    fn added_and_removed_items() {
        let old = items(OLD).unwrap();
        let new = items(&OLD.replace(
            "int vm_fn(int a);\t/* plugsched: external */",
            "int vm_fn(int a)\n{\n\treturn 0;\n}\nstatic int mine;",
        ))
        .unwrap();
        let d: Vec<_> = diff(&old, &new)
            .into_iter()
            .map(|(k, n, c, _, _)| (k, n, c))
            .collect();
        assert!(d.contains(&(Kind::Declaration, "vm_fn".into(), Change::Removed)));
        assert!(d.contains(&(Kind::Function, "vm_fn".into(), Change::Added)));
        assert!(d.contains(&(Kind::Declaration, "mine".into(), Change::Added)));
    }
}
