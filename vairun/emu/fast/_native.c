/*
 * vairun.emu.fast._native: compiled kernels of the fast executor (native.py loads and self-tests
 * them; nothing else imports this module).
 *
 * depthwise(): the tap sums of a DPTWISE block and their int32 finishing, in one pass per output
 * pixel. The arithmetic is integer throughout and equal to the reference's (vairun/emu/dwconv.py,
 * docs/isa.md 5.7) where the caller uses it: products of two int8 values are exact in int16
 * (|x * w| <= 2**14), their sums exact in int32 (at most 2**15 taps of 2**14), and the finishing
 * is finish.py's Int32Finish: ((acc << pre) + offset) >> post, clamped to [lo, hi], which the caller
 * builds only where no intermediate reaches 2**31.
 *
 * finish_rows(): the same finishing for int32 accumulators a GEMM computed (CONV groups), each
 * row's results stored at that row's output pixel.
 *
 * Three instruction sets compute the same integers: AVX2 (16 channels per step), SSE2 (8) and plain
 * C (1). The best one the CPU has is used unless the caller names one (the tests run all three).
 *
 * The caller's plan checked the geometry; this module checks, in O(1) per call, that every index it
 * was given stays inside the buffers it was given (the maxima travel with the indices), so a wrong
 * call raises ValueError instead of reading or writing outside memory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define VAI_X86 1
#include <immintrin.h>
#else
#define VAI_X86 0
#endif

enum { ISA_BEST = 0, ISA_SCALAR = 1, ISA_SSE2 = 2, ISA_AVX2 = 3 };

/* the int32 finishing: ((acc << pre) + offset) >> post, clamped to [lo, hi] */
typedef struct {
    int pre, post, lo, hi;
} fin_args;

typedef struct {
    const int8_t *in;       /* input lines of one image */
    const int32_t *idx;     /* line of (pixel, tap, group): [P][T][G] */
    const int16_t *w;       /* weights of one image: [T][C], C = G * W */
    const int32_t *off;     /* finishing offsets of one image: [C] */
    const int64_t *obase;   /* output byte offset of each pixel: [P] */
    int8_t *out;            /* output bytes of one image */
    int P, T, G, W, pre, post, lo, hi;
} dw_args;

static inline int8_t finish1(int32_t acc, int32_t off, int pre, int post, int lo, int hi)
{
    int32_t v = (int32_t)(((uint32_t)acc << pre) + (uint32_t)off) >> post;
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* channels c0 .. c1-1 of group g of pixel p, one at a time */
static void dw_scalar_span(const dw_args *a, int p, int g, int c0, int c1)
{
    const int C = a->G * a->W;
    const int32_t *ip = a->idx + ((int64_t)p * a->T) * a->G + g;
    int8_t *d = a->out + a->obase[p] + (int64_t)g * a->W;
    for (int c = c0; c < c1; c++) {
        int32_t acc = 0;
        for (int t = 0; t < a->T; t++)
            acc += (int32_t)a->in[(int64_t)ip[t * a->G] * a->W + c] * a->w[(int64_t)t * C + g * a->W + c];
        d[c] = finish1(acc, a->off[g * a->W + c], a->pre, a->post, a->lo, a->hi);
    }
}

static void dw_scalar(const dw_args *a)
{
    for (int p = 0; p < a->P; p++)
        for (int g = 0; g < a->G; g++)
            dw_scalar_span(a, p, g, 0, a->W);
}

#if VAI_X86
/* SSE2 (every x86-64 CPU): 8 channels per step. */
static inline __m128i sse2_finish8(__m128i a0, __m128i a1, const int32_t *off, const fin_args *a)
{
    const __m128i cpre = _mm_cvtsi32_si128(a->pre), cpost = _mm_cvtsi32_si128(a->post);
    a0 = _mm_sra_epi32(_mm_add_epi32(_mm_sll_epi32(a0, cpre), _mm_loadu_si128((const __m128i *)off)), cpost);
    a1 = _mm_sra_epi32(_mm_add_epi32(_mm_sll_epi32(a1, cpre), _mm_loadu_si128((const __m128i *)(off + 4))), cpost);
    /* saturating to int16 first does not change a clamp to [lo, hi] within int8 */
    __m128i h = _mm_packs_epi32(a0, a1);
    h = _mm_min_epi16(_mm_max_epi16(h, _mm_set1_epi16((short)a->lo)), _mm_set1_epi16((short)a->hi));
    return _mm_packs_epi16(h, h);
}

/* channels c .. c+7 of group g of pixel p (lines of its taps at ip[t * G + g]) into d */
static inline void dw_step8(const dw_args *a, const int32_t *ip, int g, int c, int8_t *d, const fin_args *f)
{
    const int C = a->G * a->W, W = a->W, G = a->G;
    __m128i a0 = _mm_setzero_si128(), a1 = _mm_setzero_si128();
    for (int t = 0; t < a->T; t++) {
        __m128i s = _mm_loadl_epi64((const __m128i *)(a->in + (int64_t)ip[t * G + g] * W + c));
        s = _mm_srai_epi16(_mm_unpacklo_epi8(s, s), 8);
        __m128i pr = _mm_mullo_epi16(s, _mm_loadu_si128((const __m128i *)(a->w + (int64_t)t * C + g * W + c)));
        a0 = _mm_add_epi32(a0, _mm_srai_epi32(_mm_unpacklo_epi16(pr, pr), 16));
        a1 = _mm_add_epi32(a1, _mm_srai_epi32(_mm_unpackhi_epi16(pr, pr), 16));
    }
    _mm_storel_epi64((__m128i *)(d + g * W + c), sse2_finish8(a0, a1, a->off + g * W + c, f));
}

/* The pixel and group loops of a depthwise driver around its channel steps (the variadic part:
 * statements that advance c, the next channel of group g of pixel p, in steps of their width), the
 * remaining channels one at a time. */
#define DW_DRIVE(a, ...)                                                                   \
    do {                                                                                   \
        const fin_args f = {(a)->pre, (a)->post, (a)->lo, (a)->hi};                        \
        for (int p = 0; p < (a)->P; p++) {                                                 \
            const int32_t *ip = (a)->idx + (int64_t)p * (a)->T * (a)->G;                  \
            int8_t *d = (a)->out + (a)->obase[p];                                          \
            for (int g = 0; g < (a)->G; g++) {                                             \
                int c = 0;                                                                 \
                __VA_ARGS__                                                                \
                if (c < (a)->W)                                                            \
                    dw_scalar_span((a), p, g, c, (a)->W);                                  \
            }                                                                              \
        }                                                                                  \
    } while (0)

static void dw_sse2(const dw_args *a)
{
    DW_DRIVE(a, for (; c + 8 <= a->W; c += 8) dw_step8(a, ip, g, c, d, &f););
}

__attribute__((target("avx2")))
static inline __m128i avx2_finish16(__m256i a0, __m256i a1, const int32_t *off, const fin_args *f)
{
    const __m128i cpre = _mm_cvtsi32_si128(f->pre), cpost = _mm_cvtsi32_si128(f->post);
    const __m256i vlo = _mm256_set1_epi32(f->lo), vhi = _mm256_set1_epi32(f->hi);
    a0 = _mm256_sra_epi32(_mm256_add_epi32(_mm256_sll_epi32(a0, cpre), _mm256_loadu_si256((const __m256i *)off)), cpost);
    a1 = _mm256_sra_epi32(_mm256_add_epi32(_mm256_sll_epi32(a1, cpre),
                                           _mm256_loadu_si256((const __m256i *)(off + 8))), cpost);
    a0 = _mm256_min_epi32(_mm256_max_epi32(a0, vlo), vhi);
    a1 = _mm256_min_epi32(_mm256_max_epi32(a1, vlo), vhi);
    /* packs work within 128-bit lanes: restore channel order before the last pack */
    __m256i h = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* AVX2: 16 channels per step, then the SSE2 step for a remaining 8. */
__attribute__((target("avx2")))
static inline void dw_step16(const dw_args *a, const int32_t *ip, int g, int c, int8_t *d, const fin_args *f)
{
    const int C = a->G * a->W, W = a->W, G = a->G;
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    for (int t = 0; t < a->T; t++) {
        __m128i s = _mm_loadu_si128((const __m128i *)(a->in + (int64_t)ip[t * G + g] * W + c));
        __m256i wv = _mm256_loadu_si256((const __m256i *)(a->w + (int64_t)t * C + g * W + c));
        __m256i pr = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(s), wv);
        a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(pr)));
        a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(pr, 1)));
    }
    _mm_storeu_si128((__m128i *)(d + g * W + c), avx2_finish16(a0, a1, a->off + g * W + c, f));
}

__attribute__((target("avx2")))
static void dw_avx2(const dw_args *a)
{
    DW_DRIVE(a, for (; c + 16 <= a->W; c += 16) dw_step16(a, ip, g, c, d, &f);
                for (; c + 8 <= a->W; c += 8) dw_step8(a, ip, g, c, d, &f););
}
#endif

/* finish_rows(): int32 accumulators [M][N] a GEMM computed (a CONV group), finished and stored by
 * segments: segment s takes columns cols[s] .. cols[s]+ns[s]-1 of every row r to the output bytes at
 * obase[s][r] (one member CONV's results into its output pixels), segments in order. */
typedef struct {
    const int32_t *acc;     /* one image: [M][N] */
    const int32_t *off;     /* one image: [N] */
    const int64_t *obase;   /* output byte offset of each row in this segment: [M] */
    int8_t *out;            /* output bytes of one image */
    int M, N, col0, n;
    fin_args f;
} rows_args;

static void rows_scalar_span(const rows_args *a, int r, int c0)
{
    const int32_t *src = a->acc + (int64_t)r * a->N + a->col0;
    const int32_t *o = a->off + a->col0;
    int8_t *d = a->out + a->obase[r];
    for (int c = c0; c < a->n; c++)
        d[c] = finish1(src[c], o[c], a->f.pre, a->f.post, a->f.lo, a->f.hi);
}

static void rows_scalar(const rows_args *a)
{
    for (int r = 0; r < a->M; r++)
        rows_scalar_span(a, r, 0);
}

#if VAI_X86
/* columns c .. c+7 of one row: accumulators src, offsets o, output d */
static inline void rows_step8(const int32_t *src, const int32_t *o, int8_t *d, int c, const fin_args *f)
{
    __m128i a0 = _mm_loadu_si128((const __m128i *)(src + c)), a1 = _mm_loadu_si128((const __m128i *)(src + c + 4));
    _mm_storel_epi64((__m128i *)(d + c), sse2_finish8(a0, a1, o + c, f));
}

static void rows_sse2(const rows_args *a)
{
    const int32_t *o = a->off + a->col0;
    for (int r = 0; r < a->M; r++) {
        const int32_t *src = a->acc + (int64_t)r * a->N + a->col0;
        int c = 0;
        for (; c + 8 <= a->n; c += 8)
            rows_step8(src, o, a->out + a->obase[r], c, &a->f);
        if (c < a->n)
            rows_scalar_span(a, r, c);
    }
}

__attribute__((target("avx2")))
static void rows_avx2(const rows_args *a)
{
    const int32_t *o = a->off + a->col0;
    for (int r = 0; r < a->M; r++) {
        const int32_t *src = a->acc + (int64_t)r * a->N + a->col0;
        int8_t *d = a->out + a->obase[r];
        int c = 0;
        for (; c + 16 <= a->n; c += 16) {
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(src + c));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(src + c + 8));
            _mm_storeu_si128((__m128i *)(d + c), avx2_finish16(a0, a1, o + c, &a->f));
        }
        for (; c + 8 <= a->n; c += 8)
            rows_step8(src, o, d, c, &a->f);
        if (c < a->n)
            rows_scalar_span(a, r, c);
    }
}
#endif

static int isa_available(int isa)
{
    switch (isa) {
    case ISA_SCALAR:
        return 1;
#if VAI_X86
    case ISA_SSE2:
        return 1;
    case ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
#endif
    default:
        return 0;
    }
}

static int best_isa(void)
{
    return isa_available(ISA_AVX2) ? ISA_AVX2 : (isa_available(ISA_SSE2) ? ISA_SSE2 : ISA_SCALAR);
}

static int fits(Py_ssize_t have, long long first, long long count, long long item)
{
    /* elements first .. first+count-1 of size item lie inside a buffer of have bytes */
    return first >= 0 && count >= 0 && (first + count) * item <= (long long)have;
}

static PyObject *py_depthwise(PyObject *self, PyObject *args)
{
    Py_buffer in, idx, w, off, obase, out;
    Py_ssize_t in_image, out_image;
    long long idx_max, obase_max, w_image, off_image;
    int batch, P, T, G, W, pre, post, lo, hi, isa;
    if (!PyArg_ParseTuple(args, "y*ny*Ly*Ly*Lw*ny*Liiiiiiiiii", &in, &in_image, &idx, &idx_max,
                          &w, &w_image, &off, &off_image, &out, &out_image, &obase, &obase_max,
                          &batch, &P, &T, &G, &W, &pre, &post, &lo, &hi, &isa))
        return NULL;
    PyObject *result = NULL;
    const long long C = (long long)G * W;
    if (isa == ISA_BEST)
        isa = best_isa();
    if (!isa_available(isa)) {
        PyErr_SetString(PyExc_ValueError, "instruction set not available on this CPU");
        goto done;
    }
    if (batch < 1 || P < 0 || T < 1 || G < 1 || W < 1 || pre < 0 || pre > 31 || post < 0 || post > 31 ||
        lo < -128 || hi > 127 || lo > hi || in_image < 0 || out_image < 0 || idx_max < 0 || obase_max < 0 ||
        !fits(in.len, 0, (long long)batch * in_image, 1) || !fits(out.len, 0, (long long)batch * out_image, 1) ||
        (idx_max + 1) * W > in_image || obase_max + C > out_image ||
        idx.len != (Py_ssize_t)((long long)P * T * G * 4) || obase.len != (Py_ssize_t)((long long)P * 8) ||
        !fits(w.len, (long long)(batch - 1) * w_image, (long long)T * C, 2) ||
        !fits(off.len, (long long)(batch - 1) * off_image, C, 4) || w_image < 0 || off_image < 0) {
        PyErr_SetString(PyExc_ValueError, "depthwise: arguments do not match their buffers");
        goto done;
    }
    {
        const int32_t *ip = (const int32_t *)idx.buf;
        const int64_t *op = (const int64_t *)obase.buf;
        Py_BEGIN_ALLOW_THREADS
        for (int b = 0; b < batch; b++) {
            dw_args a = {(const int8_t *)in.buf + (long long)b * in_image, ip,
                         (const int16_t *)w.buf + (long long)b * w_image,
                         (const int32_t *)off.buf + (long long)b * off_image, op,
                         (int8_t *)out.buf + (long long)b * out_image, P, T, G, W, pre, post, lo, hi};
#if VAI_X86
            if (isa == ISA_AVX2)
                dw_avx2(&a);
            else if (isa == ISA_SSE2)
                dw_sse2(&a);
            else
#endif
                dw_scalar(&a);
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&in);
    PyBuffer_Release(&idx);
    PyBuffer_Release(&w);
    PyBuffer_Release(&off);
    PyBuffer_Release(&out);
    PyBuffer_Release(&obase);
    return result;
}

static PyObject *py_finish_rows(PyObject *self, PyObject *args)
{
    Py_buffer acc, off, out, obase, cols, ns;
    Py_ssize_t out_image;
    long long off_image, end_max;
    int batch, M, N, S, pre, post, lo, hi, isa;
    if (!PyArg_ParseTuple(args, "y*y*Lw*ny*Ly*y*iiiiiiiii", &acc, &off, &off_image, &out, &out_image, &obase,
                          &end_max, &cols, &ns, &batch, &M, &N, &S, &pre, &post, &lo, &hi, &isa))
        return NULL;
    const int32_t *col0s = (const int32_t *)cols.buf, *counts = (const int32_t *)ns.buf;
    PyObject *result = NULL;
    if (isa == ISA_BEST)
        isa = best_isa();
    if (!isa_available(isa)) {
        PyErr_SetString(PyExc_ValueError, "instruction set not available on this CPU");
        goto done;
    }
    int ok = batch >= 1 && M >= 0 && N >= 1 && S >= 1 && pre >= 0 && pre <= 31 && post >= 0 && post <= 31 &&
             lo >= -128 && hi <= 127 && lo <= hi && out_image >= 0 && off_image >= 0 && end_max <= out_image &&
             acc.len == (Py_ssize_t)((long long)batch * M * N * 4) &&
             obase.len == (Py_ssize_t)((long long)S * M * 8) && cols.len == (Py_ssize_t)S * 4 &&
             ns.len == (Py_ssize_t)S * 4 && fits(out.len, 0, (long long)batch * out_image, 1) &&
             fits(off.len, (long long)(batch - 1) * off_image, N, 4);
    for (int k = 0; ok && k < S; k++)
        ok = col0s[k] >= 0 && counts[k] >= 1 && col0s[k] + counts[k] <= N;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "finish_rows: arguments do not match their buffers");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int b = 0; b < batch; b++) {
        for (int k = 0; k < S; k++) {
            rows_args a = {(const int32_t *)acc.buf + (long long)b * M * N,
                           (const int32_t *)off.buf + b * off_image, (const int64_t *)obase.buf + (long long)k * M,
                           (int8_t *)out.buf + (long long)b * out_image, M, N, col0s[k], counts[k],
                           {pre, post, lo, hi}};
#if VAI_X86
            if (isa == ISA_AVX2)
                rows_avx2(&a);
            else if (isa == ISA_SSE2)
                rows_sse2(&a);
            else
#endif
                rows_scalar(&a);
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&acc);
    PyBuffer_Release(&off);
    PyBuffer_Release(&out);
    PyBuffer_Release(&obase);
    PyBuffer_Release(&cols);
    PyBuffer_Release(&ns);
    return result;
}

static PyObject *py_isas(PyObject *self, PyObject *unused)
{
    static const char *names[] = {"", "scalar", "sse2", "avx2"};
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (int isa = ISA_AVX2; isa >= ISA_SCALAR; isa--) {
        if (!isa_available(isa))
            continue;
        PyObject *item = Py_BuildValue("(si)", names[isa], isa);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

static PyMethodDef methods[] = {
    {"depthwise", py_depthwise, METH_VARARGS,
     "depthwise(in, in_image, idx, idx_max, w, w_image, off, off_image, out, out_image, obase, obase_max,\n"
     "          batch, P, T, G, W, pre, post, lo, hi, isa): DPTWISE tap sums and int32 finishing."},
    {"finish_rows", py_finish_rows, METH_VARARGS,
     "finish_rows(acc, off, off_image, out, out_image, obase, end_max, cols, ns, batch, M, N, S, pre, post,\n"
     "            lo, hi, isa): int32 finishing of column segments of each row into their output bytes."},
    {"isas", py_isas, METH_NOARGS, "isas() -> [(name, code)], best first: the instruction sets this CPU has."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native",
                                    "Compiled kernels of vairun's fast executor (see native.py).", -1, methods};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}
