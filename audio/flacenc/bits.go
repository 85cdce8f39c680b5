package flacenc

// bitWriter appends big-endian bit fields to a byte slice, the order FLAC
// frames use. Bits collect in a 64-bit accumulator and spill to buf a byte
// at a time, so one frame is built in memory and written with one Write.
type bitWriter struct {
	buf  []byte
	acc  uint64 // pending bits, right-aligned
	nacc uint   // number of pending bits, < 8 between calls
}

// write appends the low n bits of v, n ≤ 56.
func (b *bitWriter) write(v uint64, n uint) {
	if n == 0 {
		return
	}
	b.acc = b.acc<<n | v&(1<<n-1)
	b.nacc += n
	for b.nacc >= 8 {
		b.nacc -= 8
		b.buf = append(b.buf, byte(b.acc>>b.nacc))
	}
}

// zeros appends n zero bits, any n.
func (b *bitWriter) zeros(n uint) {
	for n > 48 {
		b.write(0, 48)
		n -= 48
	}
	b.write(0, n)
}

// rice appends the Rice code of the folded residual u with parameter k:
// u>>k zeros, a one, then the low k bits.
func (b *bitWriter) rice(u uint32, k uint) {
	q := uint(u >> k)
	low := uint64(1)<<k | uint64(u)&(1<<k-1)
	if q+1+k <= 56 {
		b.write(low, q+1+k)
		return
	}
	b.zeros(q)
	b.write(low, 1+k)
}

// align pads with zero bits to a whole byte.
func (b *bitWriter) align() {
	if b.nacc > 0 {
		b.write(0, 8-b.nacc)
	}
}

func (b *bitWriter) reset() {
	b.buf, b.acc, b.nacc = b.buf[:0], 0, 0
}

// fold maps a signed residual to the unsigned value Rice codes carry:
// 0, -1, 1, -2, 2 … → 0, 1, 2, 3, 4 …
func fold(r int32) uint32 {
	return uint32(r<<1) ^ uint32(r>>31)
}

var crc8Table, crc16Table = makeCRCTables()

// makeCRCTables builds the tables for FLAC's frame header CRC-8 (x^8 + x^2 +
// x + 1) and frame CRC-16 (x^16 + x^15 + x^2 + 1), both MSB first, initial 0.
func makeCRCTables() (t8 [256]uint8, t16 [256]uint16) {
	for i := range 256 {
		c8 := uint8(i)
		for range 8 {
			if c8&0x80 != 0 {
				c8 = c8<<1 ^ 0x07
			} else {
				c8 <<= 1
			}
		}
		t8[i] = c8
		c16 := uint16(i) << 8
		for range 8 {
			if c16&0x8000 != 0 {
				c16 = c16<<1 ^ 0x8005
			} else {
				c16 <<= 1
			}
		}
		t16[i] = c16
	}
	return t8, t16
}

func crc8(p []byte) uint8 {
	var c uint8
	for _, v := range p {
		c = crc8Table[c^v]
	}
	return c
}

func crc16(p []byte) uint16 {
	var c uint16
	for _, v := range p {
		c = c<<8 ^ crc16Table[byte(c>>8)^v]
	}
	return c
}
