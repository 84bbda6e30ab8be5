// Direct convolution kernels for a convolution with one channel on one side (an image's first layer, a generator's
// last) and channel-blocked activations on the other, where oneDNN's kernels run at ~10 GFLOP/s.
//
// Shape legend (logical NCHW): input [N, C, H, W]; weight [O, C, KH, KW] (OIHW); output [N, O, HO, WO]. One side has
// one channel, stored plainly ([N, 1, H, W]); the other ("wide") side has a multiple of `block` channels, channel-
// blocked ([N, channels/block, H, W, block], block 8 or 16). Weights are used packed as [channels/block, KH, KW, block]
// (see gentrain_single_channel_pack). Every function works on `images` images starting at the given pointers (each
// image contiguous in both layouts) and is compiled for AVX-512, AVX2 and baseline x86-64, picked at run time.
#ifndef GENTRAIN_SINGLE_CHANNEL_CONVOLUTION_H
#define GENTRAIN_SINGLE_CHANNEL_CONVOLUTION_H

/// A convolution with one channel on its input side (`single_is_input`, O = wide_channels) or on its output side
/// (C = wide_channels).
typedef struct {
    long wide_channels, block;
    long input_height, input_width, output_height, output_width;
    long kernel_height, kernel_width, stride, pad_top, pad_left;
    int single_is_input;
} gentrain_single_channel_shape;

/// Floats of packed weights: wide_channels * KH * KW.
long gentrain_single_channel_packed_count(const gentrain_single_channel_shape *shape);

/// `packed` = the OIHW `weight` rearranged as [wide/block, KH, KW, block].
void gentrain_single_channel_pack(const gentrain_single_channel_shape *shape, float *packed, const float *weight);

/// OIHW `weight_gradient` += the packed gradient `packed`.
void gentrain_single_channel_unpack_add(const gentrain_single_channel_shape *shape, float *weight_gradient, const float *packed);

/// output (+)= conv(input, weight) + bias (bias [O] or NULL): added when `accumulate`, written otherwise.
void gentrain_single_channel_forward(const gentrain_single_channel_shape *shape, long images, int accumulate, float *output,
                                     const float *input, const float *packed_weight, const float *bias);

/// input_gradient (+)= conv^T(output_gradient, weight): added when `accumulate`, written otherwise.
void gentrain_single_channel_backward_data(const gentrain_single_channel_shape *shape, long images, int accumulate,
                                           float *input_gradient, const float *output_gradient, const float *packed_weight);

/// packed_weight_gradient += output_gradient x unfold(input)^T, over the images.
void gentrain_single_channel_backward_weights(const gentrain_single_channel_shape *shape, long images,
                                              float *packed_weight_gradient, const float *output_gradient, const float *input);

#endif
