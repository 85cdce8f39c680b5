package flacenc

import (
	"encoding/binary"
	"math/bits"
)

const (
	// maxPartitionOrder bounds the Rice partition search: 2^8 partitions of
	// 16 samples in a 4096-sample block, libFLAC's limit at its higher levels.
	maxPartitionOrder = 8
	// maxRiceParam is the largest parameter the 5-bit method can carry (31
	// is its escape code). 16-bit input never needs more than ~20.
	maxRiceParam = 30
	// maxRice1Param is the largest for the 4-bit method (15 is its escape).
	maxRice1Param = 14
)

// Subframe type codes (RFC 9639 §9.2.1), already shifted past the zero pad bit.
const (
	subframeConstant = 0b000000
	subframeVerbatim = 0b000001
	subframeFixed    = 0b001000 // | predictor order 0–4
)

// frameEncoder codes one block of mono 16-bit samples as a FLAC frame. Its
// buffers are reused from block to block, so encoding allocates nothing once
// the first frame is built.
type frameEncoder struct {
	bw   bitWriter
	x    []int32  // the block, widened
	res  []int32  // residuals of the chosen predictor
	sums []uint64 // folded residual sums per partition at the finest order
	plan ricePlan // partition order and parameters of the residual
}

// ricePlan is how one residual signal is split into partitions and coded.
type ricePlan struct {
	order  uint   // partition order
	params []uint // one Rice parameter per partition
	bits   uint64 // estimated size of the residual section
}

// encode builds the frame for block (1 to 65536 samples) with frame number
// num and returns its bytes, valid until the next call.
func (f *frameEncoder) encode(block []int16, num uint64, rateCode byte, rateTail []byte) []byte {
	n := len(block)
	f.bw.reset()
	f.header(n, num, rateCode, rateTail)

	f.x = f.x[:0]
	for _, v := range block {
		f.x = append(f.x, int32(v))
	}
	f.subframe()

	f.bw.align()
	crc := crc16(f.bw.buf)
	f.bw.buf = binary.BigEndian.AppendUint16(f.bw.buf, crc)
	return f.bw.buf
}

// header writes the frame header (RFC 9639 §9.1): fixed block size, mono,
// 16 bits per sample.
func (f *frameEncoder) header(n int, num uint64, rateCode byte, rateTail []byte) {
	var sizeCode byte
	var sizeTail []byte
	switch {
	case n == BlockSize:
		sizeCode = 0b1100 // 256 × 2^(12-8)
	case n <= 256:
		sizeCode, sizeTail = 0b0110, []byte{byte(n - 1)}
	default:
		sizeCode, sizeTail = 0b0111, binary.BigEndian.AppendUint16(nil, uint16(n-1))
	}
	b := append(f.bw.buf,
		0xFF, 0xF8, // sync code, reserved bit, fixed block size
		sizeCode<<4|rateCode,
		0b0000_100_0, // mono, 16 bits per sample, reserved bit
	)
	b = appendCodedNumber(b, num)
	b = append(b, sizeTail...)
	b = append(b, rateTail...)
	f.bw.buf = append(b, crc8(b))
}

// appendCodedNumber appends v in FLAC's extended UTF-8 coding (up to 36 bits).
func appendCodedNumber(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	// Continuation bytes carry 6 bits each; the lead byte has n-1 ones after
	// its leading one and room for 7-n bits.
	n := 2
	for n < 7 && v >= 1<<(5*n+1) {
		n++
	}
	lead := byte(0xFF << (8 - n))
	b = append(b, lead|byte(v>>(6*(n-1))))
	for i := n - 2; i >= 0; i-- {
		b = append(b, 0x80|byte(v>>(6*i))&0x3F)
	}
	return b
}

// subframe writes a constant subframe if the block is one value, else the
// smaller of a fixed-predictor subframe (order chosen by fixedOrder, with its
// best Rice partitioning) and a verbatim one.
func (f *frameEncoder) subframe() {
	x := f.x
	n := len(x)
	constant := true
	for _, v := range x[1:] {
		if v != x[0] {
			constant = false
			break
		}
	}
	if constant {
		f.bw.write(subframeConstant<<1, 8)
		f.bw.write(uint64(uint16(x[0])), 16)
		return
	}

	order := fixedOrder(x)
	f.res = fixedResiduals(f.res[:0], x, order)
	f.planRice(f.res, n, order, &f.plan)
	if uint64(order)*16+f.plan.bits >= uint64(n)*16 {
		f.bw.write(subframeVerbatim<<1, 8)
		for _, v := range x {
			f.bw.write(uint64(uint16(v)), 16)
		}
		return
	}

	f.bw.write(uint64(subframeFixed|order)<<1, 8)
	for _, v := range x[:order] {
		f.bw.write(uint64(uint16(v)), 16)
	}
	f.writeResidual(f.res, n, order)
}

// fixedOrder picks the fixed predictor order (0–4, below len(x)) whose
// residual has the smallest sum of magnitudes, libFLAC's way: one pass over
// the block computes all five residuals as successive differences, so only
// the chosen order is then partitioned and coded.
func fixedOrder(x []int32) int {
	maxOrder := min(4, len(x)-1)
	var sum [5]uint64
	var p0, p1, p2, p3 int32 // the previous sample's residuals of orders 0–3
	for i, e0 := range x {
		e1 := e0 - p0
		e2 := e1 - p1
		e3 := e2 - p2
		e4 := e3 - p3
		p0, p1, p2, p3 = e0, e1, e2, e3
		if i < maxOrder {
			continue // some order's prediction still lacks its history
		}
		sum[0] += abs(e0)
		sum[1] += abs(e1)
		sum[2] += abs(e2)
		sum[3] += abs(e3)
		sum[4] += abs(e4)
	}
	best := 0
	for order := 1; order <= maxOrder; order++ {
		if sum[order] < sum[best] {
			best = order
		}
	}
	return best
}

// abs is branch-free: residuals of 16-bit input are too random for a branch
// predictor. They stay within ±2^19, so the negation cannot overflow.
func abs(v int32) uint64 {
	m := v >> 31
	return uint64(uint32(v ^ m - m))
}

// fixedResiduals appends to dst the residual of the fixed polynomial
// predictor of the given order (RFC 9639 §9.2.5): x minus its prediction from
// the previous order samples. With 16-bit input the values stay within ±2^19.
func fixedResiduals(dst, x []int32, order int) []int32 {
	switch order {
	case 0:
		dst = append(dst, x...)
	case 1:
		for i := 1; i < len(x); i++ {
			dst = append(dst, x[i]-x[i-1])
		}
	case 2:
		for i := 2; i < len(x); i++ {
			dst = append(dst, x[i]-2*x[i-1]+x[i-2])
		}
	case 3:
		for i := 3; i < len(x); i++ {
			dst = append(dst, x[i]-3*x[i-1]+3*x[i-2]-x[i-3])
		}
	case 4:
		for i := 4; i < len(x); i++ {
			dst = append(dst, x[i]-4*x[i-1]+6*x[i-2]-4*x[i-3]+x[i-4])
		}
	}
	return dst
}

// planRice chooses the partition order and per-partition Rice parameters
// for residuals res of a block of n samples predicted with the given order,
// and estimates the bits they take. Sums at the finest allowed order are
// merged pairwise for each coarser one, so every order costs one pass over
// the partitions, not over the samples.
func (f *frameEncoder) planRice(res []int32, n, order int, p *ricePlan) {
	// A partition order is allowed when it divides the block evenly and its
	// first partition still holds a residual after the warm-up samples.
	top := uint(min(maxPartitionOrder, bits.TrailingZeros(uint(n))))
	for top > 0 && n>>top <= order {
		top--
	}
	parts := 1 << top
	size := n >> top
	f.sums = f.sums[:0]
	start := 0
	for i := range parts {
		end := (i+1)*size - order
		var s uint64
		for _, r := range res[start:end] {
			s += uint64(fold(r))
		}
		f.sums = append(f.sums, s)
		start = end
	}

	p.bits = ^uint64(0)
	sums := f.sums
	for po := int(top); po >= 0; po-- {
		parts := 1 << po
		size := n >> po
		var total uint64
		maxK := uint(0)
		for i, s := range sums[:parts] {
			count := size
			if i == 0 {
				count -= order
			}
			k, b := riceParam(s, count)
			total += b
			maxK = max(maxK, k)
		}
		paramBits := uint64(4)
		if maxK > maxRice1Param {
			paramBits = 5
		}
		total += 6 + uint64(parts)*paramBits // method and order, then parameters
		if total < p.bits {
			p.bits, p.order = total, uint(po)
			p.params = p.params[:0]
			for i, s := range sums[:parts] {
				count := size
				if i == 0 {
					count -= order
				}
				k, _ := riceParam(s, count)
				p.params = append(p.params, k)
			}
		}
		// Merge neighbours in place for the next coarser order.
		for i := range parts / 2 {
			sums[i] = sums[2*i] + sums[2*i+1]
		}
	}
}

// riceParam returns the Rice parameter that minimises the estimated size of
// count folded residuals summing to sum, and that size. Each value u costs
// (u >> k) + 1 + k bits, estimated here from the sum as count·(k+1) + sum>>k;
// the best k lies near log2 of the mean, so only its neighbours are tried.
func riceParam(sum uint64, count int) (uint, uint64) {
	if count == 0 {
		return 0, 0
	}
	c := uint64(count)
	guess := uint(bits.Len64(sum / c))
	bestK, bestBits := uint(0), ^uint64(0)
	for k := guess - min(guess, 2); k <= min(guess+1, maxRiceParam); k++ {
		b := c*uint64(k+1) + sum>>k
		if b < bestBits {
			bestK, bestBits = k, b
		}
	}
	return bestK, bestBits
}

// writeResidual writes the residual section following the plan f.plan.
func (f *frameEncoder) writeResidual(res []int32, n, order int) {
	paramBits := uint(4)
	for _, k := range f.plan.params {
		if k > maxRice1Param {
			paramBits = 5
		}
	}
	f.bw.write(uint64(paramBits-4), 2) // 00: 4-bit parameters, 01: 5-bit
	f.bw.write(uint64(f.plan.order), 4)
	size := n >> f.plan.order
	start := 0
	for i, k := range f.plan.params {
		end := (i+1)*size - order
		f.bw.write(uint64(k), paramBits)
		for _, r := range res[start:end] {
			f.bw.rice(fold(r), k)
		}
		start = end
	}
}
