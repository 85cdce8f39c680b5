package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nextvisit/scribe/audio/journal"
)

func Example() {
	root, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "encounters", "enc-42")

	// At start-up, repair whatever a crash left behind.
	if need, err := journal.NeedsRecovery(dir, journal.Options{}); err == nil && need {
		if _, err := journal.Recover(dir, journal.Options{}); err != nil {
			log.Fatal(err)
		}
	}

	w, err := journal.Create(dir, "enc-42", journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	second := make([]int16, journal.SampleRate) // from the capture pipeline
	for range 3 {
		if err := w.Write(second); err != nil {
			log.Fatal(err) // a real recorder marks a write-error and keeps going
		}
	}
	if err := w.Mark(journal.EventPause, ""); err != nil {
		log.Fatal(err)
	}
	if err := w.Mark(journal.EventResume, ""); err != nil {
		log.Fatal(err)
	}
	if err := w.Write(second); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	m, err := journal.ReadManifest(dir, journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Duration(), len(m.Segments), "segment(s), closed:", m.Closed)
	for _, e := range m.Events {
		fmt.Println(e.Kind, "at", e.At)
	}

	out, err := os.Create(filepath.Join(root, "enc-42.wav"))
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	if err := journal.Export(context.Background(), dir, out, journal.Options{}); err != nil {
		log.Fatal(err)
	}
	fi, err := out.Stat()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exported", fi.Size(), "bytes")
	// Output:
	// 4s 1 segment(s), closed: true
	// start at 0
	// pause at 48000
	// resume at 48000
	// end at 64000
	// exported 128044 bytes
}
