//! MongoDB wire protocol: message header, OP_MSG, legacy OP_QUERY / OP_REPLY.
//!
//! Sources:
//! - spec: mongodb/specifications source/message/OP_MSG.md (flag bits, sections, checksum)
//! - mongo: src/mongo/rpc/op_msg.cpp (OpMsg::parse: unknown required flags → IllegalOpMsgFlag,
//!   exactly one body section, document sequences merged into the body, duplicate fields)
//! - mongo: src/mongo/transport/session_workflow.cpp (reply mirrors the request's checksum flag on
//!   non-TLS connections; no reply to a moreToCome request)
//! - mongo: src/mongo/transport/service_entry_point_common.cpp (parse errors of the
//!   ConnectionFatalMessageParseError category close the connection)

use bson::{Bson, Document};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::crc::crc32c;

pub const OP_REPLY: i32 = 1;
pub const OP_QUERY: i32 = 2004;
pub const OP_MSG: i32 = 2013;

/// mongo: src/mongo/util/net/message.h MaxMessageSizeBytes = 48 MB (advertised in hello).
pub const MAX_MESSAGE_SIZE: i32 = 48_000_000;
/// mongo: src/mongo/bson/util/builder.h BSONObjMaxUserSize = 16 MiB; internal limit 16 MiB + 16 KiB.
pub const MAX_BSON_OBJECT_SIZE: i32 = 16 * 1024 * 1024;

pub const FLAG_CHECKSUM_PRESENT: u32 = 1 << 0;
pub const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// Accepted but never acted on: replies omit `topologyVersion`, so drivers never stream.
#[allow(dead_code)]
pub const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;

#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub length: i32,
    pub request_id: i32,
    /// Parsed for fidelity; a request is never a reply, so nothing reads it.
    #[allow(dead_code)]
    pub response_to: i32,
    pub op_code: i32,
}

/// One whole message read from the socket (header + body bytes, body without the header).
#[derive(Debug)]
pub struct RawMessage {
    pub header: Header,
    /// The full message bytes, header included (needed for the checksum).
    pub bytes: Vec<u8>,
}

/// Why a connection must be closed (the server ends the session on these).
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads one message. `Ok(None)` on a clean EOF before a header.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<RawMessage>, Fatal> {
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < 16 {
        let n = r
            .read(&mut head[got..])
            .await
            .map_err(|e| Fatal(format!("read error: {e}")))?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(Fatal("connection closed inside a message header".into()));
        }
        got += n;
    }
    let header = Header {
        length: i32::from_le_bytes(head[0..4].try_into().unwrap()),
        request_id: i32::from_le_bytes(head[4..8].try_into().unwrap()),
        response_to: i32::from_le_bytes(head[8..12].try_into().unwrap()),
        op_code: i32::from_le_bytes(head[12..16].try_into().unwrap()),
    };
    // mongo: src/mongo/transport/asio/asio_session_impl.cpp sourceMessageImpl: a length below the
    // header size or above MaxMessageSizeBytes is ProtocolError and ends the session.
    if header.length < 16 || header.length > MAX_MESSAGE_SIZE {
        return Err(Fatal(format!("bad message length {}", header.length)));
    }
    let mut bytes = vec![0u8; header.length as usize];
    bytes[..16].copy_from_slice(&head);
    r.read_exact(&mut bytes[16..])
        .await
        .map_err(|e| Fatal(format!("short message: {e}")))?;
    Ok(Some(RawMessage { header, bytes }))
}

/// A parsed OP_MSG request.
#[derive(Debug)]
pub struct OpMsgRequest {
    pub flags: u32,
    /// Body with document sequences merged in as array fields.
    pub body: Document,
}

fn read_cstring(buf: &[u8], at: usize) -> Result<(String, usize), Fatal> {
    let rest = buf
        .get(at..)
        .ok_or_else(|| Fatal("truncated cstring".into()))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Fatal("unterminated cstring".into()))?;
    let s = std::str::from_utf8(&rest[..end])
        .map_err(|_| Fatal("cstring is not UTF-8".into()))?
        .to_owned();
    Ok((s, at + end + 1))
}

/// Reads one BSON document starting at `at`; returns it and the offset after it.
fn read_doc(buf: &[u8], at: usize) -> Result<(Document, usize), Fatal> {
    let len_bytes = buf
        .get(at..at + 4)
        .ok_or_else(|| Fatal("truncated BSON length".into()))?;
    let len = i32::from_le_bytes(len_bytes.try_into().unwrap());
    if len < 5 || at + len as usize > buf.len() {
        return Err(Fatal(format!("invalid BSON document length {len}")));
    }
    let end = at + len as usize;
    let doc =
        Document::from_reader(&buf[at..end]).map_err(|e| Fatal(format!("invalid BSON: {e}")))?;
    Ok((doc, end))
}

pub fn parse_op_msg(msg: &RawMessage) -> Result<OpMsgRequest, Fatal> {
    let b = &msg.bytes;
    if b.len() < 20 {
        return Err(Fatal("OP_MSG too short for flagBits".into()));
    }
    let flags = u32::from_le_bytes(b[16..20].try_into().unwrap());
    // mongo: src/mongo/rpc/op_msg.cpp OpMsg::parse: "Message contains illegal flags value"
    // (IllegalOpMsgFlag 223, ConnectionFatalMessageParseError): bits 0-15 are required; only 0
    // and 1 are defined. spec OP_MSG.md: "unknown required bits MUST cause an error".
    let known_required = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME;
    if flags & 0xFFFF & !known_required != 0 {
        return Err(Fatal(format!("illegal OP_MSG flags {flags:#x}")));
    }
    let mut end = b.len();
    if flags & FLAG_CHECKSUM_PRESENT != 0 {
        // mongo: op_msg.cpp: "Invalid message size for an OpMsg containing a checksum" (51252),
        // then checksum mismatch → the connection is closed.
        if b.len() < 16 + 4 + 4 + 1 {
            return Err(Fatal("OP_MSG too short for a checksum".into()));
        }
        end -= 4;
        let want = u32::from_le_bytes(b[end..].try_into().unwrap());
        let have = crc32c(&b[..end]);
        if want != have {
            return Err(Fatal(format!(
                "OP_MSG checksum mismatch: trailer {want:#010x}, computed {have:#010x}"
            )));
        }
    }
    let b = &b[..end];
    let mut at = 20;
    let mut body: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<Document>)> = Vec::new();
    while at < b.len() {
        let kind = b[at];
        at += 1;
        match kind {
            0 => {
                // mongo: op_msg.cpp "Multiple body sections in message" (40430).
                if body.is_some() {
                    return Err(Fatal("multiple body sections in OP_MSG".into()));
                }
                let (doc, next) = read_doc(b, at)?;
                body = Some(doc);
                at = next;
            }
            1 => {
                let size_bytes = b
                    .get(at..at + 4)
                    .ok_or_else(|| Fatal("truncated document sequence".into()))?;
                let size = i32::from_le_bytes(size_bytes.try_into().unwrap());
                if size < 5 || at + size as usize > b.len() {
                    return Err(Fatal(format!("invalid document sequence size {size}")));
                }
                let seq_end = at + size as usize;
                let (ident, mut p) = read_cstring(&b[..seq_end], at + 4)?;
                let mut docs = Vec::new();
                while p < seq_end {
                    let (doc, next) = read_doc(&b[..seq_end], p)?;
                    docs.push(doc);
                    p = next;
                }
                // mongo: op_msg.cpp "Duplicate document sequence" (40431).
                if sequences.iter().any(|(i, _)| *i == ident) {
                    return Err(Fatal(format!("duplicate document sequence {ident:?}")));
                }
                sequences.push((ident, docs));
                at = seq_end;
            }
            k => {
                // mongo: op_msg.cpp "Unknown section kind" (40432); kind 2 is internal-only.
                return Err(Fatal(format!("unknown OP_MSG section kind {k}")));
            }
        }
    }
    // mongo: op_msg.cpp "OP_MSG messages must have a body" (40587).
    let mut body = body.ok_or_else(|| Fatal("OP_MSG without a body section".into()))?;
    for (ident, docs) in sequences {
        // mongo: op_msg.cpp "Duplicate field between command body and document sequence" (40433).
        if body.contains_key(&ident) {
            return Err(Fatal(format!(
                "duplicate field {ident:?} between body and document sequence"
            )));
        }
        body.insert(
            ident,
            Bson::Array(docs.into_iter().map(Bson::Document).collect()),
        );
    }
    Ok(OpMsgRequest { flags, body })
}

/// Builds an OP_MSG reply with one kind-0 section; appends a CRC-32C trailer when asked.
pub fn build_op_msg(request_id: i32, response_to: i32, body: &Document, checksum: bool) -> Vec<u8> {
    let mut doc = Vec::new();
    body.to_writer(&mut doc).expect("serialize reply");
    let mut out = Vec::with_capacity(16 + 4 + 1 + doc.len() + 4);
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&OP_MSG.to_le_bytes());
    let flags: u32 = if checksum { FLAG_CHECKSUM_PRESENT } else { 0 };
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&doc);
    let len = (out.len() + if checksum { 4 } else { 0 }) as i32;
    out[0..4].copy_from_slice(&len.to_le_bytes());
    if checksum {
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

/// A parsed legacy OP_QUERY.
#[derive(Debug)]
pub struct OpQuery {
    pub full_collection_name: String,
    pub query: Document,
}

pub fn parse_op_query(msg: &RawMessage) -> Result<OpQuery, Fatal> {
    let b = &msg.bytes;
    if b.len() < 20 {
        return Err(Fatal("OP_QUERY too short".into()));
    }
    let (name, at) = read_cstring(b, 20)?;
    // numberToSkip, numberToReturn
    let at = at + 8;
    let (query, _after) = read_doc(b, at)?;
    Ok(OpQuery {
        full_collection_name: name,
        query,
    })
}

/// Builds an OP_REPLY with one document.
/// mongo: src/mongo/rpc/legacy_reply_builder.cpp: command replies to OP_QUERY set
/// ResultFlag_AwaitCapable (8), cursorId 0, startingFrom 0, numberReturned 1.
pub fn build_op_reply(request_id: i32, response_to: i32, doc: &Document) -> Vec<u8> {
    let mut d = Vec::new();
    doc.to_writer(&mut d).expect("serialize reply");
    let mut out = Vec::with_capacity(36 + d.len());
    out.extend_from_slice(&((36 + d.len()) as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&OP_REPLY.to_le_bytes());
    out.extend_from_slice(&8i32.to_le_bytes());
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&d);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn raw(bytes: Vec<u8>) -> RawMessage {
        let header = Header {
            length: bytes.len() as i32,
            request_id: 1,
            response_to: 0,
            op_code: OP_MSG,
        };
        RawMessage { header, bytes }
    }

    fn msg(flags: u32, sections: &[u8], checksum: bool) -> Vec<u8> {
        let mut out = vec![0; 16];
        out[4..8].copy_from_slice(&1i32.to_le_bytes());
        out[12..16].copy_from_slice(&OP_MSG.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(sections);
        let len = out.len() + if checksum { 4 } else { 0 };
        out[0..4].copy_from_slice(&(len as i32).to_le_bytes());
        if checksum {
            let c = crc32c(&out);
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    fn body(d: &Document) -> Vec<u8> {
        let mut v = vec![0u8];
        d.to_writer(&mut v).unwrap();
        v
    }

    #[test]
    fn kind1_is_merged_into_body() {
        let mut s = body(&doc! {"insert": "c", "$db": "test"});
        let mut seq = Vec::new();
        seq.extend_from_slice(b"documents\0");
        doc! {"a": 1}.to_writer(&mut seq).unwrap();
        doc! {"a": 2}.to_writer(&mut seq).unwrap();
        s.push(1);
        s.extend_from_slice(&((seq.len() + 4) as i32).to_le_bytes());
        s.extend_from_slice(&seq);
        let m = parse_op_msg(&raw(msg(0, &s, false))).unwrap();
        assert_eq!(
            m.body.get_array("documents").unwrap(),
            &vec![Bson::Document(doc! {"a": 1}), Bson::Document(doc! {"a": 2})]
        );
    }

    #[test]
    fn checksum_checked() {
        let s = body(&doc! {"ping": 1, "$db": "admin"});
        let good = msg(FLAG_CHECKSUM_PRESENT, &s, true);
        assert!(parse_op_msg(&raw(good.clone())).is_ok());
        let mut bad = good;
        let n = bad.len();
        bad[n - 1] ^= 0xFF;
        assert!(parse_op_msg(&raw(bad)).is_err());
    }

    #[test]
    fn unknown_required_flag_rejected_optional_accepted() {
        let s = body(&doc! {"ping": 1, "$db": "admin"});
        assert!(parse_op_msg(&raw(msg(1 << 5, &s, false))).is_err());
        assert!(parse_op_msg(&raw(msg(FLAG_EXHAUST_ALLOWED | (1 << 20), &s, false))).is_ok());
    }

    #[test]
    fn two_bodies_rejected() {
        let mut s = body(&doc! {"ping": 1});
        s.extend(body(&doc! {"ping": 1}));
        assert!(parse_op_msg(&raw(msg(0, &s, false))).is_err());
    }

    #[test]
    fn reply_roundtrip_with_checksum() {
        let out = build_op_msg(7, 1, &doc! {"ok": 1.0}, true);
        let m = RawMessage {
            header: Header {
                length: out.len() as i32,
                request_id: 7,
                response_to: 1,
                op_code: OP_MSG,
            },
            bytes: out,
        };
        let p = parse_op_msg(&m).unwrap();
        assert_eq!(p.body, doc! {"ok": 1.0});
    }
}
