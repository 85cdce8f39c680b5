package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedIconIsCurrent fails when Icon.png was edited by hand or the generator changed without
// regenerating it (make generate).
func TestCommittedIconIsCurrent(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "Icon.png"))
	if err != nil {
		t.Fatalf("open committed icon: %v", err)
	}
	defer f.Close()
	committed, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode committed icon: %v", err)
	}
	fresh := render(512)
	if committed.Bounds() != fresh.Bounds() {
		t.Fatalf("Icon.png is %v, the generator draws %v; run make generate", committed.Bounds(), fresh.Bounds())
	}
	for y := range 512 {
		for x := range 512 {
			if got, want := committed.At(x, y), fresh.NRGBAAt(x, y); !sameColor(got, want) {
				t.Fatalf("Icon.png differs from the generator at (%d,%d): %v, want %v; run make generate", x, y, got, want)
			}
		}
	}
}

func sameColor(a, b interface{ RGBA() (r, g, b, a uint32) }) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	return ar == br && ag == bg && ab == bb && aa == ba
}

func TestRenderShape(t *testing.T) {
	for _, size := range []int{32, 512} {
		img := render(size)
		if got := img.Bounds(); got != image.Rect(0, 0, size, size) {
			t.Fatalf("render(%d) bounds = %v", size, got)
		}
		// Rounded corners are transparent; the middle of every edge and the centre are opaque.
		for _, p := range [][2]int{{0, 0}, {size - 1, 0}, {0, size - 1}, {size - 1, size - 1}} {
			if a := img.NRGBAAt(p[0], p[1]).A; a != 0 {
				t.Errorf("render(%d): corner %v alpha = %d, want 0", size, p, a)
			}
		}
		for _, p := range [][2]int{{size / 2, 0}, {0, size / 2}, {size / 2, size / 2}, {size - 1, size / 2}} {
			if a := img.NRGBAAt(p[0], p[1]).A; a != 255 {
				t.Errorf("render(%d): %v alpha = %d, want 255", size, p, a)
			}
		}
	}
}

func TestEncodeIsDeterministic(t *testing.T) {
	a, err := encode(render(64))
	if err != nil {
		t.Fatal(err)
	}
	b, err := encode(render(64))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same size encode to different bytes")
	}
}

func TestRunRejectsBadSize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "icon.png")
	if err := run(out, 0); err == nil {
		t.Fatal("run with size 0 succeeded")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("run with a bad size wrote a file (stat: %v)", err)
	}
}
