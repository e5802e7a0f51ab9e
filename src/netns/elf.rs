//! Is an executable static? A `FROM scratch` image has no dynamic loader and no C library, so
//! only a binary without an ELF interpreter (`PT_INTERP`) can run there. Reading the program
//! headers answers it without running anything.

/// `PT_INTERP`: the program header naming the dynamic loader.
const PT_INTERP: u32 = 3;

/// What the ELF headers say about how the binary is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linking {
    /// No interpreter: runs on its own (static, or static-pie).
    Static,
    /// Needs this dynamic loader (e.g. `/lib64/ld-linux-x86-64.so.2`).
    Dynamic(String),
    /// Not an ELF file we can read.
    NotElf(&'static str),
}

/// Reads the ELF header and program headers of `bytes`.
#[must_use]
pub fn linking(bytes: &[u8]) -> Linking {
    if bytes.len() < 0x34 || &bytes[..4] != b"\x7fELF" {
        return Linking::NotElf("not an ELF executable");
    }
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        _ => return Linking::NotElf("unknown ELF class"),
    };
    let little = match bytes[5] {
        1 => true,
        2 => false,
        _ => return Linking::NotElf("unknown ELF byte order"),
    };
    let read = |at: usize, len: usize| -> Option<u64> {
        let slice = bytes.get(at..at + len)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if little { slice[len - 1 - i] } else { slice[i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let (phoff, phentsize, phnum) = if wide {
        (read(0x20, 8), read(0x36, 2), read(0x38, 2))
    } else {
        (read(0x1c, 4), read(0x2a, 2), read(0x2c, 2))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, phentsize, phnum) else {
        return Linking::NotElf("truncated ELF header");
    };
    let as_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    for index in 0..as_usize(phnum) {
        let header = as_usize(phoff).saturating_add(index.saturating_mul(as_usize(phentsize)));
        let Some(kind) = read(header, 4) else {
            return Linking::NotElf("truncated program headers");
        };
        if kind != u64::from(PT_INTERP) {
            continue;
        }
        let (offset, size) = if wide {
            (read(header + 8, 8), read(header + 32, 8))
        } else {
            (read(header + 4, 4), read(header + 16, 4))
        };
        let (Some(offset), Some(size)) = (offset, size) else {
            return Linking::NotElf("truncated program headers");
        };
        let start = as_usize(offset);
        let text = bytes
            .get(start..start.saturating_add(as_usize(size)))
            .map(|raw| {
                String::from_utf8_lossy(raw)
                    .trim_end_matches('\0')
                    .to_owned()
            })
            .unwrap_or_default();
        return Linking::Dynamic(text);
    }
    Linking::Static
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF with the given program headers (type, offset, size).
    fn elf64(headers: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; 0x40];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&u16::try_from(headers.len()).unwrap().to_le_bytes());
        for (kind, offset, size) in headers {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            out.extend(ph);
        }
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn an_interpreter_means_dynamic() {
        let loader = b"/lib64/ld-linux-x86-64.so.2\0";
        let offset = 0x40 + 2 * 56;
        let bytes = elf64(&[(6, 0, 0), (3, offset, loader.len() as u64)], loader);
        assert_eq!(
            linking(&bytes),
            Linking::Dynamic("/lib64/ld-linux-x86-64.so.2".into())
        );
    }

    #[test]
    fn no_interpreter_means_static() {
        assert_eq!(
            linking(&elf64(&[(1, 0, 0), (6, 0, 0)], &[])),
            Linking::Static
        );
    }

    #[test]
    fn other_files_are_not_elf() {
        assert!(matches!(
            linking(b"#!/bin/sh\necho hi\n"),
            Linking::NotElf(_)
        ));
        let mut truncated = elf64(&[(3, 0, 0)], &[]);
        truncated.truncate(0x50);
        assert!(matches!(linking(&truncated), Linking::NotElf(_)));
    }

    #[test]
    fn the_test_binary_itself_is_read() {
        // Whatever this test binary is (glibc or musl), its headers parse.
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        assert!(!matches!(linking(&bytes), Linking::NotElf(_)));
    }
}
