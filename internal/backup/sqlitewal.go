package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The fingerprint of an SQLite database is taken of what SQLite itself
// would read: the database file's pages with, in WAL mode, each page's
// last committed frame in the write-ahead log laid over it. A checkpoint
// (which SQLite runs whenever the last connection closes, readers
// included) copies exactly those frames into the file and resets the log:
// the pages read the same before and after it, so a rollback is not
// refused because a reader came and went. Frames of a transaction not yet
// committed, or torn, count for nothing, as for SQLite.

// walLog is what a write-ahead log holds that SQLite would read: the
// offset of each page's last committed frame and the database's size in
// pages at the last commit (0 when the log holds no valid commit).
type walLog struct {
	pageSize int64
	frames   map[uint32]int64
	pages    uint32
}

const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
)

// readWAL reads a write-ahead log as SQLite's recovery does (the file
// format's section 4): a header with a valid checksum, then frames whose
// salts match the header's and whose cumulative checksums hold, up to the
// first that does not. Only I/O errors are errors: a log that is not one,
// or is empty, holds no commit.
func readWAL(r io.Reader) (walLog, error) {
	log := walLog{frames: map[uint32]int64{}}
	head := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(r, head); err != nil {
		return log, ignoreShort(err)
	}
	magic := binary.BigEndian.Uint32(head)
	if magic&^1 != 0x377f0682 {
		return log, nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	pageSize := int64(binary.BigEndian.Uint32(head[8:]))
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return log, nil
	}
	s0, s1 := walChecksum(order, head[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(head[24:]) || s1 != binary.BigEndian.Uint32(head[28:]) {
		return log, nil
	}
	log.pageSize = pageSize
	pending := map[uint32]int64{}
	frame := make([]byte, walFrameHeaderSize+pageSize)
	for off := int64(walHeaderSize); ; off += int64(len(frame)) {
		if _, err := io.ReadFull(r, frame); err != nil {
			return log, ignoreShort(err)
		}
		if !bytes.Equal(frame[8:16], head[16:24]) {
			return log, nil
		}
		s0, s1 = walChecksum(order, frame[:8], s0, s1)
		s0, s1 = walChecksum(order, frame[walFrameHeaderSize:], s0, s1)
		if s0 != binary.BigEndian.Uint32(frame[16:]) || s1 != binary.BigEndian.Uint32(frame[20:]) {
			return log, nil
		}
		pending[binary.BigEndian.Uint32(frame)] = off + walFrameHeaderSize
		if commit := binary.BigEndian.Uint32(frame[4:]); commit > 0 {
			for page, at := range pending {
				log.frames[page] = at
			}
			clear(pending)
			log.pages = commit
		}
	}
}

// walChecksum is the log's running checksum over b (a multiple of 8
// bytes), from s0 and s1.
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

func ignoreShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// hashSQLitePages writes to h the pages SQLite would read from the
// database db with its log at walPath (absent or holding no commit: the
// file's own pages, as many as its header says). A file that is no SQLite
// database is written as it is.
func hashSQLitePages(h io.Writer, db *os.File, walPath string) error {
	fi, err := db.Stat()
	if err != nil {
		return err
	}
	var log walLog
	var wal *os.File
	switch w, err := openNoFollow(walPath); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		defer w.Close()
		if log, err = readWAL(bufio.NewReaderSize(w, 64<<10)); err != nil {
			return fmt.Errorf("%s: %w", walPath, err)
		}
		wal = w
	}
	pageSize, pages := log.pageSize, int64(log.pages)
	if pages == 0 {
		head := make([]byte, 100)
		n, _ := db.ReadAt(head, 0)
		pageSize = int64(binary.BigEndian.Uint16(head[16:18]))
		if pageSize == 1 {
			pageSize = 65536
		}
		if n < len(head) || !bytes.Equal(head[:16], sqliteMagic) || pageSize < 512 || pageSize&(pageSize-1) != 0 {
			_, err := io.Copy(h, io.NewSectionReader(db, 0, fi.Size()))
			return err
		}
		pages = (fi.Size() + pageSize - 1) / pageSize
		if counted := int64(binary.BigEndian.Uint32(head[28:32])); bytes.Equal(head[24:28], head[92:96]) && counted > 0 && counted < pages {
			pages = counted
		}
	}
	fmt.Fprintf(h, "%d pages of %d bytes\n", pages, pageSize)
	page := make([]byte, pageSize)
	for p := int64(1); p <= pages; p++ {
		if at, ok := log.frames[uint32(p)]; ok {
			if _, err := wal.ReadAt(page, at); err != nil {
				return fmt.Errorf("%s: %w", walPath, err)
			}
		} else {
			n, err := db.ReadAt(page, (p-1)*pageSize)
			if err != nil && err != io.EOF {
				return err
			}
			clear(page[n:])
		}
		if _, err := h.Write(page); err != nil {
			return err
		}
	}
	return nil
}
