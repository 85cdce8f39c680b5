package importer

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextvisit/scribe/audio/journal"
)

// loopFile is a read-only file of size bytes: head, then period repeated
// (the last repetition cut short). It lets the benchmarks import an hour of
// audio without an hour of audio on disk or in memory.
type loopFile struct {
	head, period []byte
	size         int64
}

func (l *loopFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= l.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < l.size {
		var c int
		if off < int64(len(l.head)) {
			c = copy(p[n:], l.head[off:])
		} else {
			k := (off - int64(len(l.head))) % int64(len(l.period))
			c = copy(p[n:], l.period[k:])
		}
		c = int(min(int64(c), l.size-off))
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// loopWAV is secs seconds of 44.1 kHz 16-bit stereo: a 440 Hz tone in
// noise, 10 s repeated.
func loopWAV(total int) *loopFile {
	const rate, chans, secs = 44100, 2, 10
	period := make([]byte, rate*secs*chans*2)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rate * secs {
		v := 0.3*math.Sin(2*math.Pi*440*float64(i)/rate) + 0.05*rng.NormFloat64()
		for c := range chans {
			binary.LittleEndian.PutUint16(period[(i*chans+c)*2:], uint16(int16(v*32767)))
		}
	}
	data := int64(total) * rate * chans * 2
	head := make([]byte, 44)
	copy(head, "RIFF")
	binary.LittleEndian.PutUint32(head[4:], uint32(36+data))
	copy(head[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(head[16:], 16)
	binary.LittleEndian.PutUint16(head[20:], 1)
	binary.LittleEndian.PutUint16(head[22:], chans)
	binary.LittleEndian.PutUint32(head[24:], rate)
	binary.LittleEndian.PutUint32(head[28:], rate*chans*2)
	binary.LittleEndian.PutUint16(head[32:], chans*2)
	binary.LittleEndian.PutUint16(head[34:], 16)
	copy(head[36:], "data")
	binary.LittleEndian.PutUint32(head[40:], uint32(data))
	return &loopFile{head: head, period: period, size: 44 + data}
}

// hourMP3 is an hour of 44.1 kHz 128 kbps stereo speech: the speech
// fixture's frames repeated (it has no tags and no Xing frame, so the
// repetitions join into one valid stream).
func hourMP3(b *testing.B) *loopFile {
	period, err := os.ReadFile("testdata/speech-44k-stereo-cbr.mp3")
	if err != nil {
		b.Fatal(err)
	}
	return &loopFile{period: period, size: 3600 * 128000 / 8}
}

// benchImport imports f into a real journal (plain files in a temporary
// folder) per iteration, and reports the wall and CPU time per hour of
// audio, bytes allocated per import, and the largest heap seen while
// importing (sampled every 20 ms).
func benchImport(b *testing.B, f *loopFile) {
	b.ReportAllocs()
	b.SetBytes(f.size)
	var maxHeap atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > maxHeap.Load() {
					maxHeap.Store(ms.HeapAlloc)
				}
			}
		}
	})
	var audio time.Duration
	cpu0, cpuOK := cpuTime()
	i := 0
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), fmt.Sprint("enc", i))
		i++
		info, _, err := importFrom(b.Context(), src{r: f, size: f.size, name: "hour"}, dir, "enc", journal.Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		audio += info.Duration
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	cpu1, _ := cpuTime()
	close(stop)
	wg.Wait()
	b.ReportMetric(b.Elapsed().Seconds()/audio.Hours(), "s/audio-hour")
	if cpuOK {
		// Includes the untimed clean-up between iterations, a few ms.
		b.ReportMetric((cpu1-cpu0).Seconds()/audio.Hours(), "cpu-s/audio-hour")
	}
	b.ReportMetric(float64(maxHeap.Load())/(1<<20), "MiB-max-heap")
}

func BenchmarkImportHourWAV(b *testing.B) { benchImport(b, loopWAV(3600)) }

func BenchmarkImportHourMP3(b *testing.B) { benchImport(b, hourMP3(b)) }
