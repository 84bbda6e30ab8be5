// Direct convolution kernels with one channel on one side: see include/single_channel_convolution.h.
//
// Every loop over a channel block's lanes has a constant trip count (8 or 16) after inlining, so the compiler turns
// it into one vector operation; each exported function is cloned for x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and the
// baseline, and the dynamic loader picks the clone for the CPU.

#include "single_channel_convolution.h"

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#define INLINE static inline __attribute__((always_inline))

typedef gentrain_single_channel_shape shape_t;

/// The output row that reads input row `yy` at tap `i`, or -1 when none does.
INLINE long reader_position(long yy, long i, long stride, long pad, long size) {
    long t = yy + pad - i;
    if (t < 0 || t % stride) return -1;
    t /= stride;
    return t < size ? t : -1;
}

long gentrain_single_channel_packed_count(const shape_t *s) { return s->wide_channels * s->kernel_height * s->kernel_width; }

void gentrain_single_channel_pack(const shape_t *s, float *packed, const float *weight) {
    long taps = s->kernel_height * s->kernel_width, b = s->block;
    // OIHW with one channel on one side: the wide channel k's taps start at k * taps in both cases.
    for (long k = 0; k < s->wide_channels; k++)
        for (long t = 0; t < taps; t++) packed[((k / b) * taps + t) * b + k % b] = weight[k * taps + t];
}

void gentrain_single_channel_unpack_add(const shape_t *s, float *weight_gradient, const float *packed) {
    long taps = s->kernel_height * s->kernel_width, b = s->block;
    for (long k = 0; k < s->wide_channels; k++)
        for (long t = 0; t < taps; t++) weight_gradient[k * taps + t] += packed[((k / b) * taps + t) * b + k % b];
}

/// The taps `[first, end)` of a kernel of `kernel` taps for which output position `y` reads inside `[0, size)`.
INLINE void valid_taps(long y, long stride, long pad, long kernel, long size, long *first, long *end) {
    long start = y * stride - pad;
    *first = start < 0 ? -start : 0;
    *end = size - start < kernel ? size - start : kernel;
    if (*end < *first) *end = *first;
}

/// The output positions `[first, end)` (of `outputs`) that read inside `[0, size)` at tap `j`.
INLINE void valid_outputs(long j, long stride, long pad, long outputs, long size, long *first, long *end) {
    long low = pad - j, high = size - 1 + pad - j;  // x * stride in [low, high]
    *first = low <= 0 ? 0 : (low + stride - 1) / stride;
    *end = high < 0 ? 0 : high / stride + 1;
    if (*end > outputs) *end = outputs;
    if (*end < *first) *end = *first;
}

/// Whether output positions `[x, x + 4)` read inside `[0, size)` at every tap: the group then needs no checks.
INLINE int interior_group(long x, long stride, long pad, long kernel, long size) {
    return x * stride - pad >= 0 && (x + 3) * stride - pad + kernel <= size;
}

// MARK: one channel on the input side (a first layer): the output [N, O/b, HO, WO, b] is wide.

INLINE void store_lanes(const int b, float *destination, const float *total, int accumulate) {
    if (accumulate) {
        for (int l = 0; l < b; l++) destination[l] += total[l];
    } else {
        for (int l = 0; l < b; l++) destination[l] = total[l];
    }
}

INLINE void forward_single_input(const int b, const shape_t *s, long images, int accumulate, float *output, const float *input,
                                 const float *packed, const float *bias) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, S = s->stride, blocks = s->wide_channels / b;
    for (long n = 0; n < images; n++) {
        const float *image = input + n * H * W;
        for (long ob = 0; ob < blocks; ob++) {
            const float *weights = packed + ob * KH * KW * b;
            float *destination = output + (n * blocks + ob) * HO * WO * b;
            float start[16];
            for (int l = 0; l < b; l++) start[l] = bias ? bias[ob * b + l] : 0.0f;
            for (long y = 0; y < HO; y++) {
                long i0, i1;
                valid_taps(y, S, s->pad_top, KH, H, &i0, &i1);
                long x = 0;
                while (x < WO) {
                    if (x + 4 <= WO && interior_group(x, S, s->pad_left, KW, W)) {
                        float t0[16], t1[16], t2[16], t3[16];
                        for (int l = 0; l < b; l++) t0[l] = t1[l] = t2[l] = t3[l] = start[l];
                        for (long i = i0; i < i1; i++) {
                            const float *row = image + (y * S - s->pad_top + i) * W + x * S - s->pad_left;
                            for (long j = 0; j < KW; j++) {
                                const float *tap = weights + (i * KW + j) * b;
                                const float v0 = row[j], v1 = row[S + j], v2 = row[2 * S + j], v3 = row[3 * S + j];
                                for (int l = 0; l < b; l++) {
                                    t0[l] += v0 * tap[l];
                                    t1[l] += v1 * tap[l];
                                    t2[l] += v2 * tap[l];
                                    t3[l] += v3 * tap[l];
                                }
                            }
                        }
                        float *lanes = destination + (y * WO + x) * b;
                        store_lanes(b, lanes, t0, accumulate);
                        store_lanes(b, lanes + b, t1, accumulate);
                        store_lanes(b, lanes + 2 * b, t2, accumulate);
                        store_lanes(b, lanes + 3 * b, t3, accumulate);
                        x += 4;
                        continue;
                    }
                    long j0, j1;
                    valid_taps(x, S, s->pad_left, KW, W, &j0, &j1);
                    float total[16];
                    for (int l = 0; l < b; l++) total[l] = start[l];
                    for (long i = i0; i < i1; i++) {
                        const float *row = image + (y * S - s->pad_top + i) * W + x * S - s->pad_left;
                        for (long j = j0; j < j1; j++) {
                            const float value = row[j], *tap = weights + (i * KW + j) * b;
                            for (int l = 0; l < b; l++) total[l] += value * tap[l];
                        }
                    }
                    store_lanes(b, destination + (y * WO + x) * b, total, accumulate);
                    x += 1;
                }
            }
        }
    }
}

INLINE float sum_lanes(const int b, const float *total) {
    float sum = 0;
    for (int l = 0; l < b; l++) sum += total[l];
    return sum;
}

INLINE void backward_data_single_input(const int b, const shape_t *s, long images, int accumulate, float *input_gradient,
                                       const float *output_gradient, const float *packed) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, blocks = s->wide_channels / b;
    for (long n = 0; n < images; n++) {
        const float *upstream = output_gradient + n * blocks * HO * WO * b;
        for (long yy = 0; yy < H; yy++) {
            long xx = 0;
            while (xx < W) {
                // Stride 1: input column xx is read by output column xx + pad - j; four columns at once where all are.
                if (s->stride == 1 && xx + 4 <= W && xx + s->pad_left - (KW - 1) >= 0 && xx + 3 + s->pad_left < WO) {
                    float t0[16] = {0}, t1[16] = {0}, t2[16] = {0}, t3[16] = {0};
                    for (long i = 0; i < KH; i++) {
                        long y = reader_position(yy, i, 1, s->pad_top, HO);
                        if (y < 0) continue;
                        for (long j = 0; j < KW; j++) {
                            long x = xx + s->pad_left - j;
                            for (long ob = 0; ob < blocks; ob++) {
                                const float *gradient = upstream + ((ob * HO + y) * WO + x) * b;
                                const float *tap = packed + ((ob * KH + i) * KW + j) * b;
                                for (int l = 0; l < b; l++) {
                                    t0[l] += gradient[l] * tap[l];
                                    t1[l] += gradient[b + l] * tap[l];
                                    t2[l] += gradient[2 * b + l] * tap[l];
                                    t3[l] += gradient[3 * b + l] * tap[l];
                                }
                            }
                        }
                    }
                    float *destination = input_gradient + (n * H + yy) * W + xx;
                    const float sums[4] = {sum_lanes(b, t0), sum_lanes(b, t1), sum_lanes(b, t2), sum_lanes(b, t3)};
                    for (int k = 0; k < 4; k++) destination[k] = accumulate ? destination[k] + sums[k] : sums[k];
                    xx += 4;
                    continue;
                }
                float total[16] = {0};
                for (long i = 0; i < KH; i++) {
                    long y = reader_position(yy, i, s->stride, s->pad_top, HO);
                    if (y < 0) continue;
                    for (long j = 0; j < KW; j++) {
                        long x = reader_position(xx, j, s->stride, s->pad_left, WO);
                        if (x < 0) continue;
                        for (long ob = 0; ob < blocks; ob++) {
                            const float *gradient = upstream + ((ob * HO + y) * WO + x) * b;
                            const float *tap = packed + ((ob * KH + i) * KW + j) * b;
                            for (int l = 0; l < b; l++) total[l] += gradient[l] * tap[l];
                        }
                    }
                }
                float *destination = input_gradient + (n * H + yy) * W + xx;
                const float sum = sum_lanes(b, total);
                *destination = accumulate ? *destination + sum : sum;
                xx += 1;
            }
        }
    }
}

INLINE void backward_weights_single_input(const int b, const shape_t *s, long images, float *packed_gradient,
                                          const float *output_gradient, const float *input) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, S = s->stride, blocks = s->wide_channels / b;
    for (long n = 0; n < images; n++) {
        const float *image = input + n * H * W;
        for (long ob = 0; ob < blocks; ob++) {
            const float *upstream = output_gradient + (n * blocks + ob) * HO * WO * b;
            for (long i = 0; i < KH; i++) {
                long y0, y1;
                valid_outputs(i, S, s->pad_top, HO, H, &y0, &y1);
                for (long j = 0; j < KW; j++) {
                    long x0, x1;
                    valid_outputs(j, S, s->pad_left, WO, W, &x0, &x1);
                    // Four interleaved sums, so that consecutive multiply-adds do not wait for each other.
                    float t0[16] = {0}, t1[16] = {0}, t2[16] = {0}, t3[16] = {0};
                    for (long y = y0; y < y1; y++) {
                        const float *row = image + (y * S - s->pad_top + i) * W - s->pad_left + j;
                        const float *gradient = upstream + y * WO * b;
                        long x = x0;
                        for (; x + 4 <= x1; x += 4) {
                            const float v0 = row[x * S], v1 = row[(x + 1) * S], v2 = row[(x + 2) * S], v3 = row[(x + 3) * S];
                            const float *g = gradient + x * b;
                            for (int l = 0; l < b; l++) {
                                t0[l] += v0 * g[l];
                                t1[l] += v1 * g[b + l];
                                t2[l] += v2 * g[2 * b + l];
                                t3[l] += v3 * g[3 * b + l];
                            }
                        }
                        for (; x < x1; x++) {
                            const float value = row[x * S], *g = gradient + x * b;
                            for (int l = 0; l < b; l++) t0[l] += value * g[l];
                        }
                    }
                    float *tap = packed_gradient + ((ob * KH + i) * KW + j) * b;
                    for (int l = 0; l < b; l++) tap[l] += (t0[l] + t1[l]) + (t2[l] + t3[l]);
                }
            }
        }
    }
}

// MARK: one channel on the output side (a last layer): the input [N, C/b, H, W, b] is wide.

INLINE void forward_single_output(const int b, const shape_t *s, long images, int accumulate, float *output, const float *input,
                                  const float *packed, const float *bias) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, S = s->stride, blocks = s->wide_channels / b;
    const float offset = bias ? bias[0] : 0.0f;
    for (long n = 0; n < images; n++) {
        const float *image = input + n * blocks * H * W * b;
        for (long y = 0; y < HO; y++) {
            long i0, i1;
            valid_taps(y, S, s->pad_top, KH, H, &i0, &i1);
            float *destination = output + (n * HO + y) * WO;
            long x = 0;
            while (x < WO) {
                if (x + 4 <= WO && interior_group(x, S, s->pad_left, KW, W)) {
                    float t0[16] = {0}, t1[16] = {0}, t2[16] = {0}, t3[16] = {0};
                    for (long cb = 0; cb < blocks; cb++) {
                        for (long i = i0; i < i1; i++) {
                            const float *row = image + ((cb * H + y * S - s->pad_top + i) * W + x * S - s->pad_left) * b;
                            for (long j = 0; j < KW; j++) {
                                const float *tap = packed + ((cb * KH + i) * KW + j) * b, *values = row + j * b;
                                for (int l = 0; l < b; l++) {
                                    t0[l] += values[l] * tap[l];
                                    t1[l] += values[S * b + l] * tap[l];
                                    t2[l] += values[2 * S * b + l] * tap[l];
                                    t3[l] += values[3 * S * b + l] * tap[l];
                                }
                            }
                        }
                    }
                    const float sums[4] = {sum_lanes(b, t0), sum_lanes(b, t1), sum_lanes(b, t2), sum_lanes(b, t3)};
                    for (int k = 0; k < 4; k++) destination[x + k] = (accumulate ? destination[x + k] : 0.0f) + sums[k] + offset;
                    x += 4;
                    continue;
                }
                long j0, j1;
                valid_taps(x, S, s->pad_left, KW, W, &j0, &j1);
                float total[16] = {0};
                for (long cb = 0; cb < blocks; cb++) {
                    for (long i = i0; i < i1; i++) {
                        const float *row = image + ((cb * H + y * S - s->pad_top + i) * W + x * S - s->pad_left) * b;
                        for (long j = j0; j < j1; j++) {
                            const float *values = row + j * b, *tap = packed + ((cb * KH + i) * KW + j) * b;
                            for (int l = 0; l < b; l++) total[l] += values[l] * tap[l];
                        }
                    }
                }
                destination[x] = (accumulate ? destination[x] : 0.0f) + sum_lanes(b, total) + offset;
                x += 1;
            }
        }
    }
}

INLINE void backward_data_single_output(const int b, const shape_t *s, long images, int accumulate, float *input_gradient,
                                        const float *output_gradient, const float *packed) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, blocks = s->wide_channels / b;
    for (long n = 0; n < images; n++) {
        const float *upstream = output_gradient + n * HO * WO;
        for (long cb = 0; cb < blocks; cb++) {
            float *destination = input_gradient + (n * blocks + cb) * H * W * b;
            for (long yy = 0; yy < H; yy++) {
                long xx = 0;
                while (xx < W) {
                    if (s->stride == 1 && xx + 4 <= W && xx + s->pad_left - (KW - 1) >= 0 && xx + 3 + s->pad_left < WO) {
                        float t0[16] = {0}, t1[16] = {0}, t2[16] = {0}, t3[16] = {0};
                        for (long i = 0; i < KH; i++) {
                            long y = reader_position(yy, i, 1, s->pad_top, HO);
                            if (y < 0) continue;
                            for (long j = 0; j < KW; j++) {
                                const float *g = upstream + y * WO + xx + s->pad_left - j;
                                const float *tap = packed + ((cb * KH + i) * KW + j) * b;
                                const float g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
                                for (int l = 0; l < b; l++) {
                                    t0[l] += g0 * tap[l];
                                    t1[l] += g1 * tap[l];
                                    t2[l] += g2 * tap[l];
                                    t3[l] += g3 * tap[l];
                                }
                            }
                        }
                        float *lanes = destination + (yy * W + xx) * b;
                        store_lanes(b, lanes, t0, accumulate);
                        store_lanes(b, lanes + b, t1, accumulate);
                        store_lanes(b, lanes + 2 * b, t2, accumulate);
                        store_lanes(b, lanes + 3 * b, t3, accumulate);
                        xx += 4;
                        continue;
                    }
                    float total[16] = {0};
                    for (long i = 0; i < KH; i++) {
                        long y = reader_position(yy, i, s->stride, s->pad_top, HO);
                        if (y < 0) continue;
                        for (long j = 0; j < KW; j++) {
                            long x = reader_position(xx, j, s->stride, s->pad_left, WO);
                            if (x < 0) continue;
                            const float gradient = upstream[y * WO + x], *tap = packed + ((cb * KH + i) * KW + j) * b;
                            for (int l = 0; l < b; l++) total[l] += gradient * tap[l];
                        }
                    }
                    store_lanes(b, destination + (yy * W + xx) * b, total, accumulate);
                    xx += 1;
                }
            }
        }
    }
}

INLINE void backward_weights_single_output(const int b, const shape_t *s, long images, float *packed_gradient,
                                           const float *output_gradient, const float *input) {
    const long H = s->input_height, W = s->input_width, HO = s->output_height, WO = s->output_width;
    const long KH = s->kernel_height, KW = s->kernel_width, S = s->stride, blocks = s->wide_channels / b;
    for (long n = 0; n < images; n++) {
        const float *upstream = output_gradient + n * HO * WO;
        for (long cb = 0; cb < blocks; cb++) {
            const float *image = input + (n * blocks + cb) * H * W * b;
            for (long i = 0; i < KH; i++) {
                long y0, y1;
                valid_outputs(i, S, s->pad_top, HO, H, &y0, &y1);
                for (long j = 0; j < KW; j++) {
                    long x0, x1;
                    valid_outputs(j, S, s->pad_left, WO, W, &x0, &x1);
                    float t0[16] = {0}, t1[16] = {0}, t2[16] = {0}, t3[16] = {0};
                    for (long y = y0; y < y1; y++) {
                        const float *row = image + ((y * S - s->pad_top + i) * W - s->pad_left + j) * b;
                        const float *gradient = upstream + y * WO;
                        long x = x0;
                        for (; x + 4 <= x1; x += 4) {
                            const float g0 = gradient[x], g1 = gradient[x + 1], g2 = gradient[x + 2], g3 = gradient[x + 3];
                            const float *v = row + x * S * b;
                            for (int l = 0; l < b; l++) {
                                t0[l] += g0 * v[l];
                                t1[l] += g1 * v[S * b + l];
                                t2[l] += g2 * v[2 * S * b + l];
                                t3[l] += g3 * v[3 * S * b + l];
                            }
                        }
                        for (; x < x1; x++) {
                            const float g = gradient[x], *v = row + x * S * b;
                            for (int l = 0; l < b; l++) t0[l] += g * v[l];
                        }
                    }
                    float *tap = packed_gradient + ((cb * KH + i) * KW + j) * b;
                    for (int l = 0; l < b; l++) tap[l] += (t0[l] + t1[l]) + (t2[l] + t3[l]);
                }
            }
        }
    }
}

// MARK: exported entry points, one instantiation per block size

CLONES void gentrain_single_channel_forward(const shape_t *s, long images, int accumulate, float *output, const float *input,
                                            const float *packed_weight, const float *bias) {
    if (s->single_is_input) {
        if (s->block == 16) forward_single_input(16, s, images, accumulate, output, input, packed_weight, bias);
        else forward_single_input(8, s, images, accumulate, output, input, packed_weight, bias);
    } else {
        if (s->block == 16) forward_single_output(16, s, images, accumulate, output, input, packed_weight, bias);
        else forward_single_output(8, s, images, accumulate, output, input, packed_weight, bias);
    }
}

CLONES void gentrain_single_channel_backward_data(const shape_t *s, long images, int accumulate, float *input_gradient,
                                                  const float *output_gradient, const float *packed_weight) {
    if (s->single_is_input) {
        if (s->block == 16) backward_data_single_input(16, s, images, accumulate, input_gradient, output_gradient, packed_weight);
        else backward_data_single_input(8, s, images, accumulate, input_gradient, output_gradient, packed_weight);
    } else {
        if (s->block == 16) backward_data_single_output(16, s, images, accumulate, input_gradient, output_gradient, packed_weight);
        else backward_data_single_output(8, s, images, accumulate, input_gradient, output_gradient, packed_weight);
    }
}

CLONES void gentrain_single_channel_backward_weights(const shape_t *s, long images, float *packed_weight_gradient,
                                                     const float *output_gradient, const float *input) {
    if (s->single_is_input) {
        if (s->block == 16) backward_weights_single_input(16, s, images, packed_weight_gradient, output_gradient, input);
        else backward_weights_single_input(8, s, images, packed_weight_gradient, output_gradient, input);
    } else {
        if (s->block == 16) backward_weights_single_output(16, s, images, packed_weight_gradient, output_gradient, input);
        else backward_weights_single_output(8, s, images, packed_weight_gradient, output_gradient, input);
    }
}
