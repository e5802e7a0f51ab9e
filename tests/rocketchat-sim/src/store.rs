//! Rocket.Chat keeps nothing itself: its state lives in MongoDB. With `MONGO_URL` the simulator
//! does the same through the driver — loaded at boot, and every change written (and
//! acknowledged) before the request that made it is answered — in the collections the real
//! server names (packages/models/src/models/*.ts): `users`, `rocketchat_room`,
//! `rocketchat_subscription`, `rocketchat_message`, `rocketchat_integrations`,
//! `rocketchat_settings`, `rocketchat_permissions`. Each document is `_id` plus the
//! simulator's fields (not every field the real server stores); settings are `{_id, value,
//! type}` and permissions `{_id, roles}` as the real ones are.
//!
//! The migrations `control` document and its rules are in [`crate::migrations`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Database};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::Sim;
use crate::state::{Db, SettingValue};

pub const USERS: &str = "users";
pub const ROOMS: &str = "rocketchat_room";
pub const SUBSCRIPTIONS: &str = "rocketchat_subscription";
pub const MESSAGES: &str = "rocketchat_message";
pub const INTEGRATIONS: &str = "rocketchat_integrations";
pub const SETTINGS: &str = "rocketchat_settings";
pub const PERMISSIONS: &str = "rocketchat_permissions";

/// One write the store must make.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Put(&'static str, Document),
    Delete(&'static str, String),
    InsertMany(&'static str, Vec<Document>),
}

/// The database and what was last written to it (to write only what changed).
pub struct Store {
    db: Database,
    /// Small collections: the documents last written.
    written: Written,
    /// Messages are only ever added or removed, never edited in place: their ids suffice.
    message_ids: HashSet<String>,
}

/// A value as a document, its `id` field stored as `_id`.
fn to_doc<T: Serialize>(item: &T) -> Option<Document> {
    let value = serde_json::to_value(item).ok()?;
    let Ok(Bson::Document(mut d)) = Bson::try_from(value) else {
        return None;
    };
    let id = d.remove("id")?;
    let mut out = doc! {"_id": id};
    out.extend(d);
    Some(out)
}

/// The reverse of [`to_doc`].
fn from_doc<T: DeserializeOwned>(d: Document) -> Result<T, String> {
    let mut d = d;
    let id = d.remove("_id").ok_or("a document without _id")?;
    let mut value = Bson::Document(d).into_relaxed_extjson();
    if let Value::Object(map) = &mut value {
        map.insert("id".into(), id.into_relaxed_extjson());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The documents of the small collections, by collection, in the state's order (the order
/// they are first written in, so a reload gives the same order back).
fn small_collections(db: &Db) -> BTreeMap<&'static str, Vec<(String, Document)>> {
    fn by_id<T: Serialize>(items: &[T]) -> Vec<(String, Document)> {
        items
            .iter()
            .filter_map(to_doc)
            .filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d)))
            .collect()
    }
    let mut out = BTreeMap::new();
    out.insert(USERS, by_id(&db.users));
    out.insert(ROOMS, by_id(&db.rooms));
    out.insert(SUBSCRIPTIONS, by_id(&db.subscriptions));
    out.insert(INTEGRATIONS, by_id(&db.integrations));
    out.insert(
        SETTINGS,
        db.settings
            .iter()
            .filter_map(|(id, v)| {
                let value = Bson::try_from(v.to_json()).ok()?;
                let kind = match v {
                    SettingValue::Bool(_) => "boolean",
                    SettingValue::Int(_) => "int",
                    SettingValue::Str(_) => "string",
                };
                Some((id.clone(), doc! {"_id": id, "value": value, "type": kind}))
            })
            .collect(),
    );
    out.insert(
        PERMISSIONS,
        db.permissions
            .iter()
            .map(|(id, roles)| (id.clone(), doc! {"_id": id, "roles": roles.clone()}))
            .collect(),
    );
    out
}

/// By collection and id, for lookups; iteration keeps the state's order.
type Written = BTreeMap<&'static str, IndexedDocs>;

/// Documents in order, with their ids.
#[derive(Default)]
struct IndexedDocs {
    order: Vec<(String, Document)>,
    index: std::collections::HashMap<String, usize>,
}

impl IndexedDocs {
    fn get(&self, id: &str) -> Option<&Document> {
        self.index.get(id).map(|&i| &self.order[i].1)
    }
    fn contains_key(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }
    fn keys(&self) -> impl Iterator<Item = &String> {
        self.order.iter().map(|(id, _)| id)
    }
}

impl<'a> IntoIterator for &'a IndexedDocs {
    type Item = (&'a String, &'a Document);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Document)>,
        fn(&'a (String, Document)) -> (&'a String, &'a Document),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.order.iter().map(|(id, d)| (id, d))
    }
}

fn written(collections: BTreeMap<&'static str, Vec<(String, Document)>>) -> Written {
    collections
        .into_iter()
        .map(|(coll, order)| {
            let index = order
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.clone(), i))
                .collect();
            (coll, IndexedDocs { order, index })
        })
        .collect()
}

impl Store {
    /// Connects with the URL's database (Meteor's: the path of `MONGO_URL`).
    pub async fn connect(url: &str) -> Result<Store, String> {
        let client = Client::with_uri_str(url)
            .await
            .map_err(|e| format!("MongoError: {e}"))?;
        let name = client
            .default_database()
            .map_or_else(|| "meteor".to_owned(), |d| d.name().to_owned());
        Ok(Store {
            db: client.database(&name),
            written: BTreeMap::new(),
            message_ids: HashSet::new(),
        })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn all(&self, coll: &str) -> Result<Vec<Document>, String> {
        self.db
            .collection::<Document>(coll)
            .find(doc! {})
            .await
            .map_err(|e| format!("MongoError: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("MongoError: {e}"))
    }

    /// Reads the stored state (an empty database gives an empty state).
    pub async fn load(&mut self) -> Result<Db, String> {
        fn each<T: DeserializeOwned>(coll: &str, docs: Vec<Document>) -> Result<Vec<T>, String> {
            docs.into_iter()
                .map(|d| from_doc(d).map_err(|e| format!("{coll}: {e}")))
                .collect()
        }
        let mut db = Db {
            users: each(USERS, self.all(USERS).await?)?,
            rooms: each(ROOMS, self.all(ROOMS).await?)?,
            subscriptions: each(SUBSCRIPTIONS, self.all(SUBSCRIPTIONS).await?)?,
            messages: each(MESSAGES, self.all(MESSAGES).await?)?,
            integrations: each(INTEGRATIONS, self.all(INTEGRATIONS).await?)?,
            ..Db::default()
        };
        // The real server sorts by `ts`; stored order is insertion order here.
        db.messages.sort_by_key(|m| m.ts);
        for d in self.all(SETTINGS).await? {
            let (Ok(id), Some(value)) = (d.get_str("_id"), d.get("value")) else {
                continue;
            };
            let value = match (d.get_str("type").unwrap_or_default(), value) {
                ("boolean", Bson::Boolean(b)) => SettingValue::Bool(*b),
                ("int", Bson::Int32(i)) => SettingValue::Int(i64::from(*i)),
                ("int", Bson::Int64(i)) => SettingValue::Int(*i),
                ("string", Bson::String(s)) => SettingValue::Str(s.clone()),
                (kind, other) => {
                    return Err(format!("{SETTINGS} {id}: a {kind} setting holding {other}"));
                }
            };
            db.settings.insert(id.to_owned(), value);
        }
        for d in self.all(PERMISSIONS).await? {
            let Ok(id) = d.get_str("_id") else { continue };
            let roles = d
                .get_array("roles")
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            db.permissions.insert(id.to_owned(), roles);
        }
        self.written = written(small_collections(&db));
        self.message_ids = db.messages.iter().map(|m| m.id.clone()).collect();
        Ok(db)
    }

    /// What must be written for the store to hold `db`; remembered as written.
    pub fn diff(&mut self, db: &Db) -> Vec<Op> {
        let mut ops = Vec::new();
        let now = small_collections(db);
        let now = written(now);
        for (coll, docs) in &now {
            let before = self.written.get(coll);
            for (id, d) in docs {
                if before.and_then(|b| b.get(id)) != Some(d) {
                    ops.push(Op::Put(coll, d.clone()));
                }
            }
            for id in before.into_iter().flat_map(|b| b.keys()) {
                if !docs.contains_key(id) {
                    ops.push(Op::Delete(coll, id.clone()));
                }
            }
        }
        self.written = now;
        // Messages: hash lookups, no copies; ids removed only when the counts say so.
        let added: Vec<&crate::state::Message> = db
            .messages
            .iter()
            .filter(|m| !self.message_ids.contains(&m.id))
            .collect();
        if self.message_ids.len() + added.len() != db.messages.len() {
            let current: HashSet<&String> = db.messages.iter().map(|m| &m.id).collect();
            let removed: Vec<String> = self
                .message_ids
                .iter()
                .filter(|id| !current.contains(id))
                .cloned()
                .collect();
            for id in removed {
                self.message_ids.remove(&id);
                ops.push(Op::Delete(MESSAGES, id));
            }
        }
        if !added.is_empty() {
            self.message_ids.extend(added.iter().map(|m| m.id.clone()));
            ops.push(Op::InsertMany(
                MESSAGES,
                added.into_iter().filter_map(to_doc).collect(),
            ));
        }
        ops
    }

    /// Makes the writes, in order.
    pub async fn write(&self, ops: Vec<Op>) -> Result<(), String> {
        for op in ops {
            let result = match op {
                Op::Put(coll, d) => {
                    let id = d.get("_id").cloned().unwrap_or(Bson::Null);
                    self.db
                        .collection::<Document>(coll)
                        .replace_one(doc! {"_id": id}, d)
                        .upsert(true)
                        .await
                        .map(drop)
                }
                Op::Delete(coll, id) => self
                    .db
                    .collection::<Document>(coll)
                    .delete_one(doc! {"_id": id})
                    .await
                    .map(drop),
                Op::InsertMany(coll, docs) => self
                    .db
                    .collection::<Document>(coll)
                    .insert_many(docs)
                    .await
                    .map(drop),
            };
            result.map_err(|e| format!("MongoError: {e}"))?;
        }
        Ok(())
    }

    /// Writes what changed in the simulator's state. The store's lock is held across the diff
    /// and the writes, so changes reach the database in the order they were made, and a
    /// request is answered only once its change (or a later one including it) is written.
    pub async fn sync(store: &tokio::sync::Mutex<Store>, sim: &Mutex<Sim>) -> Result<(), String> {
        let mut store = store.lock().await;
        let ops = {
            let sim = sim.lock().expect("lock");
            store.diff(&sim.db)
        };
        store.write(ops).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Message;

    fn message(id: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": id, "rid": "GENERAL", "msg": "hi", "ts": 1, "uid": "u", "username": "bot"
        }))
        .unwrap()
    }

    #[test]
    fn documents_carry_the_id_as_underscore_id_and_come_back_whole() {
        let m = message("m1");
        let d = to_doc(&m).unwrap();
        assert_eq!(d.keys().next().map(String::as_str), Some("_id"));
        assert_eq!(d.get_str("_id").unwrap(), "m1");
        assert!(!d.contains_key("id"));
        let back: Message = from_doc(d).unwrap();
        assert_eq!(
            serde_json::to_value(back).unwrap(),
            serde_json::to_value(m).unwrap()
        );
    }
}
