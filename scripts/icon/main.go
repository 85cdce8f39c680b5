// Command icon draws Scribe's application icon: a note sheet whose first line is a voice waveform, with a
// microphone badge on its corner, on a teal rounded square. It draws with signed distance fields, so every
// edge is anti-aliased at any size and the output is the same byte for byte on every run.
//
//	go run ./scripts/icon -o Icon.png
//
//go:generate go run . -o ../../Icon.png
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

func main() {
	out := flag.String("o", "Icon.png", "file to write the PNG to")
	size := flag.Int("size", 512, "width and height in pixels")
	flag.Parse()
	if err := run(*out, *size); err != nil {
		fmt.Fprintln(os.Stderr, "icon:", err)
		os.Exit(1)
	}
}

func run(out string, size int) error {
	if size < 16 || size > 4096 {
		return fmt.Errorf("size %d out of range: use 16 to 4096 pixels", size)
	}
	data, err := encode(render(size))
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return fmt.Errorf("write icon: %w", err)
	}
	return nil
}

func encode(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// The design is laid out on a 512-unit grid; render scales it to the requested size.
const grid = 512.0

// Palette: calm clinical teal to deep blue, white paper, slate text.
var (
	teal      = rgb(0x1f, 0xa8, 0xa0)
	deepBlue  = rgb(0x0b, 0x5a, 0x7d)
	paper     = rgb(0xff, 0xff, 0xff)
	fold      = rgb(0xcf, 0xe8, 0xea)
	textLine  = rgb(0xbf, 0xcf, 0xd8)
	waveStart = rgb(0x13, 0x9c, 0x98)
	waveEnd   = rgb(0x0d, 0x6f, 0x8f)
	shadow    = rgb(0x04, 0x2f, 0x40)
)

type vec struct{ x, y float64 }

func (a vec) sub(b vec) vec       { return vec{a.x - b.x, a.y - b.y} }
func (a vec) dot(b vec) float64   { return a.x*b.x + a.y*b.y }
func (a vec) length() float64     { return math.Hypot(a.x, a.y) }
func (a vec) scale(k float64) vec { return vec{a.x * k, a.y * k} }

// An sdf gives the signed distance in grid units from a point to a shape's edge: negative inside.
type sdf func(p vec) float64

// A paint gives the colour of a shape at a point.
type paint func(p vec) rgba

func roundRect(minX, minY, maxX, maxY, r float64) sdf {
	c := vec{(minX + maxX) / 2, (minY + maxY) / 2}
	half := vec{(maxX - minX) / 2, (maxY - minY) / 2}
	return func(p vec) float64 {
		q := vec{math.Abs(p.x-c.x) - half.x + r, math.Abs(p.y-c.y) - half.y + r}
		outside := vec{math.Max(q.x, 0), math.Max(q.y, 0)}.length()
		return outside + math.Min(math.Max(q.x, q.y), 0) - r
	}
}

func circle(c vec, r float64) sdf {
	return func(p vec) float64 { return p.sub(c).length() - r }
}

// ring is the circle of radius r around c, stroked half-width w.
func ring(c vec, r, w float64) sdf {
	return func(p vec) float64 { return math.Abs(p.sub(c).length()-r) - w }
}

// capsule is the segment a–b thickened by r: a stroke with round caps.
func capsule(a, b vec, r float64) sdf {
	ab := b.sub(a)
	return func(p vec) float64 {
		ap := p.sub(a)
		t := math.Max(0, math.Min(1, ap.dot(ab)/ab.dot(ab)))
		return ap.sub(ab.scale(t)).length() - r
	}
}

// halfPlane is the side of the line through a and b that is on your left as you walk from a to b on the
// screen (y pointing down).
func halfPlane(a, b vec) sdf {
	n := vec{-(b.y - a.y), b.x - a.x}
	n = n.scale(1 / n.length())
	return func(p vec) float64 { return p.sub(a).dot(n) }
}

// triangle is the filled triangle abc, its vertices in counterclockwise order on the screen.
func triangle(a, b, c vec) sdf {
	return intersect(halfPlane(a, b), halfPlane(b, c), halfPlane(c, a))
}

func union(shapes ...sdf) sdf {
	return func(p vec) float64 {
		d := math.Inf(1)
		for _, s := range shapes {
			d = math.Min(d, s(p))
		}
		return d
	}
}

func intersect(shapes ...sdf) sdf {
	return func(p vec) float64 {
		d := math.Inf(-1)
		for _, s := range shapes {
			d = math.Max(d, s(p))
		}
		return d
	}
}

// translate moves a shape by d, for drop shadows.
func translate(s sdf, d vec) sdf {
	return func(p vec) float64 { return s(p.sub(d)) }
}

func solid(c rgba) paint { return func(vec) rgba { return c } }

// linear blends from c0 at a to c1 at b, constant across the direction a→b.
func linear(a, b vec, c0, c1 rgba) paint {
	ab := b.sub(a)
	return func(p vec) rgba {
		t := math.Max(0, math.Min(1, p.sub(a).dot(ab)/ab.dot(ab)))
		return c0.mix(c1, t)
	}
}

type rgba struct{ r, g, b, a float64 } // straight (not premultiplied) alpha, 0–1

func rgb(r, g, b uint8) rgba { return rgba{float64(r) / 255, float64(g) / 255, float64(b) / 255, 1} }

func (c rgba) mix(d rgba, t float64) rgba {
	return rgba{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t, c.a + (d.a-c.a)*t}
}

func (c rgba) alpha(a float64) rgba { c.a *= a; return c }

// canvas holds premultiplied colour per pixel.
type canvas struct {
	size  int
	scale float64 // pixels per grid unit
	pix   []rgba
}

func newCanvas(size int) *canvas {
	return &canvas{size: size, scale: float64(size) / grid, pix: make([]rgba, size*size)}
}

// fill composites a shape over the canvas with an anti-aliased edge one pixel wide.
func (cv *canvas) fill(s sdf, p paint) {
	cv.draw(s, p, func(dPixels float64) float64 { return clamp01(0.5 - dPixels) })
}

// blur composites a shape with an edge softened over radius grid units, for shadows.
func (cv *canvas) blur(s sdf, p paint, radius float64) {
	r := radius * cv.scale
	cv.draw(s, p, func(dPixels float64) float64 { return 1 - smoothstep(-r, r, dPixels) })
}

func (cv *canvas) draw(s sdf, p paint, coverage func(dPixels float64) float64) {
	for y := range cv.size {
		for x := range cv.size {
			pt := vec{(float64(x) + 0.5) / cv.scale, (float64(y) + 0.5) / cv.scale}
			cov := coverage(s(pt) * cv.scale)
			if cov <= 0 {
				continue
			}
			src := p(pt)
			a := src.a * cov
			dst := &cv.pix[y*cv.size+x]
			dst.r = src.r*a + dst.r*(1-a)
			dst.g = src.g*a + dst.g*(1-a)
			dst.b = src.b*a + dst.b*(1-a)
			dst.a = a + dst.a*(1-a)
		}
	}
}

func (cv *canvas) image() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, cv.size, cv.size))
	for i, c := range cv.pix {
		if c.a <= 0 {
			continue
		}
		img.SetNRGBA(i%cv.size, i/cv.size, color.NRGBA{
			R: to8(c.r / c.a), G: to8(c.g / c.a), B: to8(c.b / c.a), A: to8(c.a),
		})
	}
	return img
}

func to8(v float64) uint8 { return uint8(math.Round(clamp01(v) * 255)) }

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

func render(size int) *image.NRGBA {
	cv := newCanvas(size)

	// Background: a full-bleed rounded square with the corner radius macOS uses (22.5 %), so the icon
	// keeps its shape when fyne package masks it for macOS.
	cv.fill(roundRect(0, 0, grid, grid, 0.225*grid), linear(vec{0, 0}, vec{grid, grid}, teal, deepBlue))

	// The note sheet with a folded top-right corner. Sheet and badge together are centred on the square.
	const left, top, right, bottom, corner, dog = 92.0, 64.0, 336.0, 404.0, 26.0, 66.0
	cut := halfPlane(vec{right, top + dog}, vec{right - dog, top}) // keeps the side away from the corner
	sheet := intersect(roundRect(left, top, right, bottom, corner), cut)
	cv.blur(translate(sheet, vec{0, 12}), solid(shadow.alpha(0.35)), 22)
	cv.fill(sheet, solid(paper))
	flap := triangle(vec{right - dog, top}, vec{right - dog, top + dog}, vec{right, top + dog})
	cv.blur(translate(flap, vec{-3, 4}), solid(shadow.alpha(0.18)), 6)
	cv.fill(flap, solid(fold))

	// First line of the note: the voice it was written from, a waveform that settles into a text line.
	wave := linear(vec{left, 0}, vec{right, 0}, waveStart, waveEnd)
	heights := []float64{8, 20, 36, 24, 44, 30, 14, 26, 12, 4}
	const waveY, barStep, barR = 160.0, 20.0, 6.5
	for i, h := range heights {
		x := left + 38 + float64(i)*barStep
		cv.fill(capsule(vec{x, waveY - h}, vec{x, waveY + h}, barR), wave)
	}
	// The rest of the note.
	for i, length := range []float64{168, 168, 120, 74} {
		y := 240 + float64(i)*40
		cv.fill(capsule(vec{left + 38, y}, vec{left + 38 + length, y}, 7), solid(textLine))
	}

	// The microphone badge over the sheet's lower-right corner.
	badge := vec{340, 368}
	cv.blur(circle(vec{badge.x, badge.y + 10}, 84), solid(shadow.alpha(0.35)), 18)
	cv.fill(circle(badge, 84), solid(paper))
	cv.fill(circle(badge, 72), linear(vec{badge.x - 72, badge.y - 72}, vec{badge.x + 72, badge.y + 72}, teal, deepBlue))

	const stroke = 5.5
	cx, headTop := badge.x, badge.y-54
	head := capsule(vec{cx, headTop + 19}, vec{cx, headTop + 53}, 19)
	cupY, cupR := headTop+45, 31.0
	cup := union(
		intersect(ring(vec{cx, cupY}, cupR, stroke), func(p vec) float64 { return cupY - p.y }), // lower half
		circle(vec{cx - cupR, cupY}, stroke),                                                    // round the cut ends
		circle(vec{cx + cupR, cupY}, stroke),
	)
	stem := capsule(vec{cx, cupY + cupR}, vec{cx, cupY + cupR + 20}, stroke)
	base := capsule(vec{cx - 22, cupY + cupR + 20}, vec{cx + 22, cupY + cupR + 20}, stroke)
	cv.fill(union(head, cup, stem, base), solid(paper))

	return cv.image()
}
