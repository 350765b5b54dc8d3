"""elfcore.py — read, patch and rewrite a leakscan snapshot (an ELF core)
from Python, stdlib only, so the bad-input generator and the fuzz seed
script can corrupt one field at a time of a snapshot made at test time
rather than keep binary files.

It knows the container (ELF header, program headers, notes) and the
fields of the LEAKSCAN note and of the debug root that the corruptions
touch. The debug root offsets below mirror formats/leakscan_format.h
(x86-64, natural alignment); `check_layout` verifies them against a real
snapshot (magic, version and size must read back right).
"""
import struct

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_FILE = 1, 0x46494C45
LS_NOTE_SNAPSHOT = 0x4C534E50
ROOT_MAGIC = 0x544F4F524B41454C

# offsetof(ls_debug_root, field): formats/leakscan_format.h
ROOT = {
    "magic": 0, "version": 8, "size": 12, "pointer_size": 16, "elf_machine": 20,
    "tasks": 32, "task_count": 40, "task_stride": 48, "off_task_id": 52,
    "off_task_state": 64, "off_task_wait_reason": 68, "off_task_wait_addrs": 76, "off_task_wait_count": 80,
    "off_task_wait_since": 72, "off_task_stack_lo": 84, "off_task_stack_hi": 88, "off_task_is_main": 92,
    "off_task_regs": 96, "reg_count": 100, "regs": 104, "reason_count": 168,
    "reason_names": 192,           # LS_MAX_REASONS names of LS_REASON_NAME_SIZE (32) bytes
    "arena": 1216, "arena_size": 1224, "arena_used": 1232, "page_size": 1240,
    "page_map": 1248, "spans": 1256, "span_count": 1264, "span_stride": 1272,
    "off_span_base": 1276, "off_span_npages": 1280, "off_span_state": 1284,
    "off_span_elem_size": 1292, "off_span_nelems": 1296, "off_span_alloc_bits": 1300,
    "internal_count": 1304, "internal": 1312, "stack_chunks": 1440, "stack_chunk_count": 1448,
    "stack_chunk_size": 1456, "workers": 1464,
    "worker_count": 1472, "worker_stride": 1476, "timers": 1488, "timer_count": 1496,
    # appended after the first release (a root's `size` says if present)
    "off_task_ancestry": 1520, "off_task_ancestry_count": 1524, "ancestry_max": 1528,
    "ancestry_stride": 1532, "off_task_labels": 1536, "off_labels_count": 1540,
    "off_labels_pairs": 1544,
}
# offsetof(ls_note_snapshot, field)
NOTE = {"version": 0, "debug_root": 8, "pid": 16, "time_monotonic_ns": 32, "build_id_size": 56,
        "exe_path_size": 60, "reason_size": 64}
NOTE_HEADER = 72


class Core:
    """A core file in memory: `data` is a bytearray that patches edit."""

    def __init__(self, data):
        self.data = bytearray(data)
        h = EHDR.unpack_from(self.data, 0)
        if h[0][:4] != b"\x7fELF":
            raise ValueError("not an ELF file")
        self.phoff, self.phentsize, self.phnum = h[5], h[9], h[10]

    # -- the container ----------------------------------------------------
    def phdr_offset(self, i):
        return self.phoff + i * self.phentsize

    def phdrs(self):
        """[(index, type, flags, offset, vaddr, filesz, memsz)]"""
        out = []
        for i in range(self.phnum):
            t, fl, off, va, _pa, fs, ms, _al = PHDR.unpack_from(self.data, self.phdr_offset(i))
            out.append((i, t, fl, off, va, fs, ms))
        return out

    def loads(self):
        return [p for p in self.phdrs() if p[1] == PT_LOAD]

    def set_phdr(self, i, **fields):
        names = ["type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align"]
        vals = list(PHDR.unpack_from(self.data, self.phdr_offset(i)))
        for k, v in fields.items():
            vals[names.index(k)] = v
        PHDR.pack_into(self.data, self.phdr_offset(i), *vals)

    def notes(self):
        """[(name, type, header offset, desc offset, descsz)] of every note."""
        out = []
        for _i, t, _fl, off, _va, fs, _ms in self.phdrs():
            if t != PT_NOTE:
                continue
            at, end = off, off + fs
            while at + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", self.data, at)
                name = bytes(self.data[at + 12:at + 12 + namesz]).rstrip(b"\0")
                desc = at + 12 + ((namesz + 3) & ~3)
                out.append((name, ntype, at, desc, descsz))
                at = desc + ((descsz + 3) & ~3)
        return out

    def leakscan_note(self):
        for name, ntype, hdr, desc, size in self.notes():
            if name == b"LEAKSCAN" and ntype == LS_NOTE_SNAPSHOT:
                return hdr, desc, size
        raise ValueError("no LEAKSCAN note")

    # -- NT_FILE: the files the program had mapped -------------------------
    def file_note(self):
        """(desc offset, descsz) of the NT_FILE note."""
        for name, ntype, _hdr, desc, size in self.notes():
            if name == b"CORE" and ntype == NT_FILE:
                return desc, size
        raise ValueError("no NT_FILE note")

    def file_mappings(self):
        """[(start, end, offset in bytes, path, path's file offset)] of
        NT_FILE, in the note's order."""
        desc, size = self.file_note()
        count, page = struct.unpack_from("<QQ", self.data, desc)
        at, out = desc + 16 + count * 24, []
        for i in range(count):
            start, end, pgoff = struct.unpack_from("<QQQ", self.data, desc + 16 + i * 24)
            nul = self.data.index(b"\0", at, desc + size)
            out.append((start, end, pgoff * page, bytes(self.data[at:nul]), at))
            at = nul + 1
        return out

    def set_file_mapping(self, i, start, end, offset, path):
        """Rewrites NT_FILE entry i in place. The path must be as long as
        the one it replaces (the note keeps its layout) and offset (bytes)
        a multiple of the note's page size."""
        desc, _size = self.file_note()
        page = self.u("Q", desc + 8)
        old = self.file_mappings()[i]
        if len(path) != len(old[3]) or offset % page:
            raise ValueError("path of another length, or offset not page-aligned")
        struct.pack_into("<QQQ", self.data, desc + 16 + i * 24, start, end, offset // page)
        self.data[old[4]:old[4] + len(path)] = path

    def in_segment(self, addr, n=1):
        """Whether any PT_LOAD (file data or zero tail) holds a byte of the
        n at addr."""
        return any(va < addr + n and addr < va + ms for _i, _t, _fl, _off, va, _fs, ms in self.loads())

    # -- memory -----------------------------------------------------------
    def file_offset(self, addr, n=1):
        """The file offset of addr, if n bytes there are in one segment's data."""
        for _i, _t, _fl, off, va, fs, _ms in self.loads():
            if va <= addr and addr + n <= va + fs:
                return off + (addr - va)
        raise KeyError(f"0x{addr:x} is not in the file")

    def u(self, fmt, at):
        return struct.unpack_from("<" + fmt, self.data, at)[0]

    def put(self, fmt, at, value):
        struct.pack_into("<" + fmt, self.data, at, value)

    # -- the runtime --------------------------------------------------------
    def root_addr(self):
        _hdr, desc, _size = self.leakscan_note()
        return self.u("Q", desc + NOTE["debug_root"])

    def root_offset(self):
        return self.file_offset(self.root_addr(), 1520)

    def root(self, field, fmt="Q"):
        return self.u(fmt, self.root_offset() + ROOT[field])

    def set_root(self, field, value, fmt="Q"):
        self.put(fmt, self.root_offset() + ROOT[field], value)

    def check_layout(self):
        assert self.root("magic") == ROOT_MAGIC, "debug root magic"
        assert self.root("version", "I") == 1, "debug root version"
        assert self.root("size", "I") >= 1520, "debug root size"

    def live_task_slots(self):
        """Addresses of the task slots whose state is not free or dead."""
        base, count = self.root("tasks"), self.root("task_count")
        stride, off_state = self.root("task_stride", "I"), self.root("off_task_state", "I")
        out = []
        for i in range(count):
            slot = base + i * stride
            try:
                state = self.u("I", self.file_offset(slot + off_state, 4))
            except KeyError:
                continue
            if state in (1, 2, 3):
                out.append(slot)
        return out

    def cstring(self, addr, limit=256):
        """The NUL-terminated string at addr, from the core's segments."""
        at = self.file_offset(addr, 1)
        return bytes(self.data[at:self.data.index(b"\0", at, at + limit + 1)])

    def label_pairs(self, slot):
        """[(pair address, key address, value address)] of the label set of
        the task at slot (none if it has no labels)."""
        labels = self.u("Q", self.file_offset(slot + self.root("off_task_labels", "I"), 8))
        if not labels:
            return []
        count = self.u("I", self.file_offset(labels + self.root("off_labels_count", "I"), 4))
        pairs = labels + self.root("off_labels_pairs", "I")
        return [(pairs + 16 * i, self.u("Q", self.file_offset(pairs + 16 * i, 8)),
                 self.u("Q", self.file_offset(pairs + 16 * i + 8, 8))) for i in range(count)]

    # -- rewriting ----------------------------------------------------------
    def rebuild(self, segments):
        """A new file of these program headers, in order: (phdr index or
        None, type, flags, vaddr, data, memsz, align). Sections are left out."""
        ph_at = EHDR.size
        at = ph_at + len(segments) * PHDR.size
        body, phdrs = bytearray(), []
        for _i, t, fl, va, data, ms, al in segments:
            body += b"\0" * ((-(at + len(body))) % 8)
            phdrs.append(PHDR.pack(t, fl, at + len(body), va, 0, len(data), ms, al))
            body += data
        h = list(EHDR.unpack_from(self.data, 0))
        h[5], h[6], h[10], h[12], h[13] = ph_at, 0, len(segments), 0, 0
        return Core(bytearray(EHDR.pack(*h)) + b"".join(phdrs) + body)

    def segments(self):
        out = []
        for i, t, fl, off, va, fs, ms in self.phdrs():
            al = PHDR.unpack_from(self.data, self.phdr_offset(i))[7]
            out.append((i, t, fl, va, bytes(self.data[off:off + fs]), ms, al))
        return out

    def without_segments(self, drop):
        """A new file without the segments whose indexes are in drop."""
        return self.rebuild([s for s in self.segments() if s[0] not in drop])

    def sparse(self, page=4096):
        """The same memory in fewer bytes: bytes past a segment's filesz
        read as zero, so each PT_LOAD is cut at runs of zero pages into
        pieces whose file data ends at their last non-zero page."""
        out = []
        for i, t, fl, va, data, ms, al in self.segments():
            if t != PT_LOAD or len(data) != ms or va % page:
                out.append((i, t, fl, va, data, ms, al))
                continue
            zero = bytes(page)
            pages = [data[o:o + page] != zero[:len(data[o:o + page])] for o in range(0, len(data), page)]
            starts = [p for p in range(len(pages)) if pages[p] and (p == 0 or not pages[p - 1])]
            if not starts or starts[0] != 0:
                starts.insert(0, 0)
            for n, p in enumerate(starts):
                end = starts[n + 1] * page if n + 1 < len(starts) else ms
                last = p
                for q in range(p, (end + page - 1) // page):
                    if pages[q]:
                        last = q + 1
                piece = data[p * page:min(last * page, len(data))]
                out.append((None if n else i, t, fl, va + p * page, piece, end - p * page, al))
        return self.rebuild(out)
