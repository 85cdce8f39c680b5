//go:build !purego

#include "textflag.h"

// func dotFMA(c, x *float32, n int) float32
TEXT ·dotFMA(SB), NOSPLIT, $0-28
	MOVQ c+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

	// 32 products per round into four independent accumulators.
loop32:
	CMPQ CX, $32
	JLT  rem
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  loop32

rem:
	// What is left is under 32: up to three blocks of 8, each into its own
	// accumulator so their latencies overlap, then single elements.
	CMPQ CX, $8
	JLT  reduce
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JLT  reduce
	VMOVUPS (SI), Y5
	VFMADD231PS (DI), Y5, Y1
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JLT  reduce
	VMOVUPS (SI), Y6
	VFMADD231PS (DI), Y6, Y2
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX

reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0

tail:
	CMPQ CX, $0
	JEQ  done
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         tail

done:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dot2FMA(c1, x1, c2, x2 *float32, n int) (a, b float32)
//
// Two dot products at once, n a multiple of 8: their eight accumulator
// chains interleave, so the FMA latency that bounds a single short dot
// product is hidden.
TEXT ·dot2FMA(SB), NOSPLIT, $0-48
	MOVQ c1+0(FP), SI
	MOVQ x1+8(FP), DI
	MOVQ c2+16(FP), R8
	MOVQ x2+24(FP), R9
	MOVQ n+32(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

loop2:
	CMPQ CX, $32
	JLT  rem2
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VMOVUPS     64(SI), Y10
	VMOVUPS     96(SI), Y11
	VMOVUPS     (R8), Y12
	VMOVUPS     32(R8), Y13
	VMOVUPS     64(R8), Y14
	VMOVUPS     96(R8), Y15
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y11, Y3
	VFMADD231PS (R9), Y12, Y4
	VFMADD231PS 32(R9), Y13, Y5
	VFMADD231PS 64(R9), Y14, Y6
	VFMADD231PS 96(R9), Y15, Y7
	ADDQ        $128, SI
	ADDQ        $128, DI
	ADDQ        $128, R8
	ADDQ        $128, R9
	SUBQ        $32, CX
	JMP         loop2

rem2:
	CMPQ CX, $8
	JLT  reduce2
	VMOVUPS     (SI), Y8
	VMOVUPS     (R8), Y12
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (R9), Y12, Y4
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R8
	ADDQ        $32, R9
	SUBQ        $8, CX
	CMPQ        CX, $8
	JLT         reduce2
	VMOVUPS     (SI), Y9
	VMOVUPS     (R8), Y13
	VFMADD231PS (DI), Y9, Y1
	VFMADD231PS (R9), Y13, Y5
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R8
	ADDQ        $32, R9
	SUBQ        $8, CX
	CMPQ        CX, $8
	JLT         reduce2
	VMOVUPS     (SI), Y10
	VMOVUPS     (R8), Y14
	VFMADD231PS (DI), Y10, Y2
	VFMADD231PS (R9), Y14, Y6

reduce2:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VADDPS       Y2, Y0, Y0
	VADDPS       Y6, Y4, Y4
	VEXTRACTF128 $1, Y0, X1
	VEXTRACTF128 $1, Y4, X5
	VADDPS       X1, X0, X0
	VADDPS       X5, X4, X4
	VMOVHLPS     X0, X0, X1
	VMOVHLPS     X4, X4, X5
	VADDPS       X1, X0, X0
	VADDPS       X5, X4, X4
	VMOVSHDUP    X0, X1
	VMOVSHDUP    X4, X5
	VADDSS       X1, X0, X0
	VADDSS       X5, X4, X4
	VZEROUPPER
	MOVSS        X0, a+40(FP)
	MOVSS        X4, b+44(FP)
	RET
