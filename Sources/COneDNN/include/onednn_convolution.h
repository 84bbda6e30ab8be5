// Convolution kernels over oneDNN (Debian's libdnnl-dev) for gentrain's NCHW buffers.
//
// Shape legend (NCHW, row-major, as in TensorCore): input [N, C, H, W]; weight [O, C, KH, KW];
// output [N, O, HO, WO]; bias [O]. Activations (input, output and their gradients) come in gentrain's
// layout of each buffer: plain NCHW, or oneDNN's channel-blocked nChw8c / nChw16c ([N, C/b, H, W, b]),
// which its fastest kernels read and write without reordering. Weights are OIHW. Each call reorders what
// is not in the layout the primitive wants, and caches the primitives per shape and layouts. Calls are
// serialised by a lock (one stream, cached memory objects).
#ifndef GENTRAIN_ONEDNN_CONVOLUTION_H
#define GENTRAIN_ONEDNN_CONVOLUTION_H

#include <stddef.h>

/// Sizes, stride and padding of one convolution (padding after may be zero when a `valid`
/// convolution leaves input rows or columns unused).
typedef struct {
    long batch, input_channels, input_height, input_width;
    long output_channels, output_height, output_width;
    long kernel_height, kernel_width, stride;
    long pad_top, pad_left, pad_bottom, pad_right;
} gentrain_convolution_shape;

/// The layouts of a call's activation buffers, as channel blocks: 0 plain NCHW, 8 nChw8c, 16 nChw16c.
/// `source` is the convolution's input side (input or input gradient), `destination` its output side.
typedef struct {
    int source_block, destination_block;
} gentrain_activation_layouts;

/// How a call runs: `threads` OpenMP threads; the batch is cut into chunks of images whose input and output
/// take at most `chunk_bytes` (at least one image), so that each chunk's reorders and convolution stay in cache.
typedef struct {
    int threads;
    long chunk_bytes;
} gentrain_onednn_settings;

/// output (+)= conv(input, weight) + bias (bias may be NULL): added when `accumulate`, overwritten otherwise.
/// Returns 0, or a non-zero oneDNN status (see gentrain_onednn_last_error).
int gentrain_onednn_convolution_forward(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                        gentrain_activation_layouts layouts, int accumulate, float *output, const float *input, const float *weight, const float *bias);

/// input_gradient (+)= conv^T(output_gradient, weight): added when `accumulate`, overwritten otherwise.
int gentrain_onednn_convolution_backward_data(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                              gentrain_activation_layouts layouts, int accumulate, float *input_gradient, const float *output_gradient,
                                              const float *weight);

/// weight_gradient += output_gradient x unfold(input)^T.
int gentrain_onednn_convolution_backward_weights(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                                 gentrain_activation_layouts layouts, float *weight_gradient, const float *output_gradient,
                                                 const float *input);

/// The channel blocks (0 when none: plain, padded or another layout) in which the forward (`backward_data` 0) or
/// backward-data (1) primitive of `shape` reads and writes its activations, so that callers can keep them so.
int gentrain_onednn_preferred_layouts(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                      int backward_data, gentrain_activation_layouts *layouts);

/// `destination` = `source` [N, C, H, W] converted between layouts (channel blocks 0, 8 or 16; C a multiple of
/// each block used), with `threads` OpenMP threads.
int gentrain_onednn_reorder(long batch, long channels, long height, long width, int source_block, int destination_block,
                            int threads, float *destination, const float *source);

/// The oneDNN call that failed last on this thread and its status, for error messages.
const char *gentrain_onednn_last_error(void);

/// Implementation names ("jit:avx2", "gemm:jit", ...) chosen for the forward, backward-data and
/// backward-weights primitives of `shape`'s chunks, written into `buffer` as "forward / data / weights".
int gentrain_onednn_describe(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                             char *buffer, size_t capacity);

#endif
