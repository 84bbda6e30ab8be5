// Convolution kernels over oneDNN for gentrain's buffers: see include/onednn_convolution.h.
//
// For every (kind, shape, layouts) an `operation` is built once and cached: the convolution primitive created
// with `format_tag_any` (so oneDNN picks its blocked layout), and for each argument the reorder between the
// buffer's layout (nchw, nChw8c or nChw16c for activations, oihw for weights) and the primitive's, or none
// when they agree. Outputs that must be *added* into (gradients) go through a reorder with a sum post-op.

#include "onednn_convolution.h"

#include <dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void omp_set_num_threads(int count);

enum kind { kind_forward, kind_backward_data, kind_backward_weights };
enum { maximum_arguments = 4 };

/// One argument of a primitive: gentrain's layout, the primitive's, and the reorder between them.
typedef struct {
    int name;              // DNNL_ARG_*
    int is_output;
    int accumulate;        // outputs only: add into the user's buffer
    dnnl_memory_desc_t user, internal;
    dnnl_primitive_t reorder;  // NULL when the user's buffer is used as is
    dnnl_memory_t user_memory, internal_memory;
    size_t internal_bytes;
} argument;

typedef struct operation {
    enum kind kind;
    gentrain_convolution_shape shape;
    gentrain_activation_layouts layouts;
    int with_bias, accumulate;
    int threads;  // oneDNN fixes a primitive's split of the work among threads when it creates it
    dnnl_primitive_t primitive;
    const char *implementation;
    dnnl_memory_t scratchpad;  // the primitive's scratchpad, carved from the arena (NULL when it needs none)
    size_t scratchpad_bytes;
    argument arguments[maximum_arguments];
    int argument_count;
    struct operation *next;
} operation;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static operation *cache;
static _Thread_local char last_error[256];

// Buffers in the primitives' layouts, reused by every call (calls hold the lock). Mapped directly rather than
// malloc'ed: freeing blocks of tens of MB would raise glibc's mmap threshold, and the heap then fragments
// (a DCGAN process grew from 260 to 670 MB that way).
static void *arena;
static size_t arena_bytes;

static int reserve_arena(size_t bytes) {
    if (bytes <= arena_bytes) return 0;
    if (arena) munmap(arena, arena_bytes);
    arena = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED) {
        arena = NULL;
        arena_bytes = 0;
        snprintf(last_error, sizeof last_error, "out of memory for %zu bytes of oneDNN buffers", bytes);
        return -1;
    }
    arena_bytes = bytes;
    return 0;
}

const char *gentrain_onednn_last_error(void) { return last_error; }

#define CHECK(call)                                                                      \
    do {                                                                                 \
        dnnl_status_t status_ = (call);                                                  \
        if (status_ != dnnl_success) {                                                   \
            snprintf(last_error, sizeof last_error, "%s failed with oneDNN status %d", #call, \
                     (int)status_);                                                      \
            return (int)status_;                                                         \
        }                                                                                \
    } while (0)

static int start_engine(void) {
    if (engine) return 0;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    return 0;
}

/// The format of activations in channel blocks of `block` (0: plain NCHW).
static dnnl_format_tag_t activation_format(int block) {
    return block == 16 ? dnnl_nChw16c : block == 8 ? dnnl_nChw8c : dnnl_nchw;
}

/// The four memory descriptors of a convolution: src [N,C,H,W], weights [O,C,KH,KW], bias [O], dst [N,O,HO,WO].
static int describe_tensors(const gentrain_convolution_shape *s, dnnl_format_tag_t source_format,
                            dnnl_format_tag_t destination_format, dnnl_format_tag_t weights, dnnl_memory_desc_t *source,
                            dnnl_memory_desc_t *weight, dnnl_memory_desc_t *bias, dnnl_memory_desc_t *destination) {
    dnnl_dims_t source_dims = {s->batch, s->input_channels, s->input_height, s->input_width};
    dnnl_dims_t weight_dims = {s->output_channels, s->input_channels, s->kernel_height, s->kernel_width};
    dnnl_dims_t bias_dims = {s->output_channels};
    dnnl_dims_t destination_dims = {s->batch, s->output_channels, s->output_height, s->output_width};
    CHECK(dnnl_memory_desc_init_by_tag(source, 4, source_dims, dnnl_f32, source_format));
    CHECK(dnnl_memory_desc_init_by_tag(weight, 4, weight_dims, dnnl_f32, weights));
    CHECK(dnnl_memory_desc_init_by_tag(bias, 1, bias_dims, dnnl_f32, dnnl_x));
    CHECK(dnnl_memory_desc_init_by_tag(destination, 4, destination_dims, dnnl_f32, destination_format));
    return 0;
}

/// Adds an argument whose primitive layout is `internal`; builds the reorder when it differs from gentrain's
/// (or always for an accumulated output, whose reorder adds).
static int add_argument(operation *op, int name, int is_output, int accumulate, const dnnl_memory_desc_t *user,
                        const dnnl_memory_desc_t *internal) {
    argument *a = &op->arguments[op->argument_count++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->is_output = is_output;
    a->accumulate = accumulate;
    a->user = *user;
    a->internal = *internal;
    CHECK(dnnl_memory_create(&a->user_memory, user, engine, DNNL_MEMORY_NONE));
    int same = dnnl_memory_desc_equal(user, internal);
    if (same && !accumulate) return 0;
    a->internal_bytes = dnnl_memory_desc_get_size(internal);
    CHECK(dnnl_memory_create(&a->internal_memory, internal, engine, DNNL_MEMORY_NONE));
    dnnl_primitive_attr_t attributes = NULL;
    if (accumulate) {
        dnnl_post_ops_t post_ops;
        CHECK(dnnl_post_ops_create(&post_ops));
        CHECK(dnnl_post_ops_append_sum(post_ops, 1.0f));
        CHECK(dnnl_primitive_attr_create(&attributes));
        CHECK(dnnl_primitive_attr_set_post_ops(attributes, post_ops));
        CHECK(dnnl_post_ops_destroy(post_ops));
    }
    dnnl_primitive_desc_t reorder_description;
    const dnnl_memory_desc_t *from = is_output ? internal : user, *to = is_output ? user : internal;
    dnnl_status_t status = dnnl_reorder_primitive_desc_create(&reorder_description, from, engine, to, engine, attributes);
    if (attributes) dnnl_primitive_attr_destroy(attributes);
    CHECK(status);
    CHECK(dnnl_primitive_create(&a->reorder, reorder_description));
    CHECK(dnnl_primitive_desc_destroy(reorder_description));
    return 0;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t description, dnnl_query_t what, int index) {
    return dnnl_primitive_desc_query_md(description, what, index);
}

/// Builds the primitive (and its reorders) of one kind for one shape.
static int build(operation *op) {
    const gentrain_convolution_shape *s = &op->shape;
    dnnl_memory_desc_t source, weight, bias, destination, user_source, user_weight, user_bias, user_destination;
    int status = describe_tensors(s, dnnl_format_tag_any, dnnl_format_tag_any, dnnl_format_tag_any, &source, &weight, &bias,
                                  &destination);
    if (status) return status;
    status = describe_tensors(s, activation_format(op->layouts.source_block), activation_format(op->layouts.destination_block),
                              dnnl_oihw, &user_source, &user_weight, &user_bias, &user_destination);
    if (status) return status;
    dnnl_dims_t strides = {s->stride, s->stride}, dilation = {0, 0};
    dnnl_dims_t padding_before = {s->pad_top, s->pad_left}, padding_after = {s->pad_bottom, s->pad_right};

    dnnl_convolution_desc_t forward;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &source,
                                                     &weight, op->with_bias ? &bias : NULL, &destination, strides,
                                                     dilation, padding_before, padding_after));
    dnnl_primitive_attr_t attributes;
    CHECK(dnnl_primitive_attr_create(&attributes));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user));
    dnnl_primitive_desc_t forward_description, description;
    CHECK(dnnl_primitive_desc_create(&forward_description, &forward, attributes, engine, NULL));
    if (op->kind == kind_forward) {
        description = forward_description;
    } else if (op->kind == kind_backward_data) {
        dnnl_convolution_desc_t backward;
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&backward, dnnl_convolution_direct, &source, &weight,
                                                               &destination, strides, dilation, padding_before,
                                                               padding_after));
        CHECK(dnnl_primitive_desc_create(&description, &backward, attributes, engine, forward_description));
    } else {
        dnnl_convolution_desc_t backward;
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(&backward, dnnl_convolution_direct, &source, &weight,
                                                                  NULL, &destination, strides, dilation,
                                                                  padding_before, padding_after));
        CHECK(dnnl_primitive_desc_create(&description, &backward, attributes, engine, forward_description));
    }

    switch (op->kind) {
    case kind_forward:
        if ((status = add_argument(op, DNNL_ARG_SRC, 0, 0, &user_source, query(description, dnnl_query_src_md, 0)))) return status;
        if ((status = add_argument(op, DNNL_ARG_WEIGHTS, 0, 0, &user_weight, query(description, dnnl_query_weights_md, 0)))) return status;
        if (op->with_bias &&
            (status = add_argument(op, DNNL_ARG_BIAS, 0, 0, &user_bias, query(description, dnnl_query_weights_md, 1)))) return status;
        if ((status = add_argument(op, DNNL_ARG_DST, 1, op->accumulate, &user_destination, query(description, dnnl_query_dst_md, 0)))) return status;
        break;
    case kind_backward_data:
        if ((status = add_argument(op, DNNL_ARG_DIFF_DST, 0, 0, &user_destination, query(description, dnnl_query_diff_dst_md, 0)))) return status;
        if ((status = add_argument(op, DNNL_ARG_WEIGHTS, 0, 0, &user_weight, query(description, dnnl_query_weights_md, 0)))) return status;
        if ((status = add_argument(op, DNNL_ARG_DIFF_SRC, 1, op->accumulate, &user_source, query(description, dnnl_query_diff_src_md, 0)))) return status;
        break;
    case kind_backward_weights:
        if ((status = add_argument(op, DNNL_ARG_SRC, 0, 0, &user_source, query(description, dnnl_query_src_md, 0)))) return status;
        if ((status = add_argument(op, DNNL_ARG_DIFF_DST, 0, 0, &user_destination, query(description, dnnl_query_diff_dst_md, 0)))) return status;
        if ((status = add_argument(op, DNNL_ARG_DIFF_WEIGHTS, 1, 1, &user_weight, query(description, dnnl_query_diff_weights_md, 0)))) return status;
        break;
    }
    CHECK(dnnl_primitive_attr_destroy(attributes));
    CHECK(dnnl_primitive_create(&op->primitive, description));
    const dnnl_memory_desc_t *scratchpad = query(description, dnnl_query_scratchpad_md, 0);
    op->scratchpad_bytes = scratchpad ? dnnl_memory_desc_get_size(scratchpad) : 0;
    if (op->scratchpad_bytes) CHECK(dnnl_memory_create(&op->scratchpad, scratchpad, engine, DNNL_MEMORY_NONE));
    const char *implementation = "";
    CHECK(dnnl_primitive_desc_query(description, dnnl_query_impl_info_str, 0, &implementation));
    op->implementation = strdup(implementation);
    if (description != forward_description) CHECK(dnnl_primitive_desc_destroy(description));
    CHECK(dnnl_primitive_desc_destroy(forward_description));
    return 0;
}

/// Sets OpenMP's thread count for the primitives built and run next (at least 1).
static int use_threads(int threads) {
    if (threads < 1) threads = 1;
    omp_set_num_threads(threads);
    return threads;
}

/// The cached operation for (kind, shape, layouts, threads), built on first use with `threads` OpenMP threads
/// (a primitive created under another count would split its work for that count). Called with the lock held.
static int find(enum kind kind, const gentrain_convolution_shape *shape, gentrain_activation_layouts layouts, int with_bias,
                int accumulate, int threads, operation **result) {
    int status = start_engine();
    if (status) return status;
    threads = use_threads(threads);
    for (operation *op = cache; op; op = op->next) {
        if (op->kind == kind && op->with_bias == with_bias && op->accumulate == accumulate && op->threads == threads &&
            op->layouts.source_block == layouts.source_block && op->layouts.destination_block == layouts.destination_block &&
            memcmp(&op->shape, shape, sizeof *shape) == 0) {
            *result = op;
            return 0;
        }
    }
    operation *op = calloc(1, sizeof *op);
    if (!op) {
        snprintf(last_error, sizeof last_error, "out of memory for a oneDNN operation");
        return -1;
    }
    op->kind = kind;
    op->shape = *shape;
    op->layouts = layouts;
    op->threads = threads;
    op->with_bias = with_bias;
    op->accumulate = accumulate;
    if ((status = build(op))) {
        free(op);  // primitives built so far are leaked: building only fails on a programming error
        return status;
    }
    op->next = cache;
    cache = op;
    *result = op;
    return 0;
}

static long per_image(const gentrain_convolution_shape *s, int name);

/// Runs `op` on user buffers `pointers[i]` (one per argument, in argument order): reorders in, the
/// primitive, reorders out, with the internal buffers carved from the arena. With `weights_in_place`, the
/// weights and bias reordered by the previous call of the same operation are still in the arena and are used
/// as they are. Called with the lock held.
static int execute(operation *op, void *const *pointers, int threads, int weights_in_place) {
    use_threads(threads);
    size_t total = 0;
    for (int i = 0; i < op->argument_count; i++) total += (op->arguments[i].internal_bytes + 4095) / 4096 * 4096;
    total += op->scratchpad_bytes;
    int status = reserve_arena(total);
    if (status) return status;
    char *next = arena;
    dnnl_exec_arg_t primitive_arguments[maximum_arguments + 1];
    for (int i = 0; i < op->argument_count; i++) {
        argument *a = &op->arguments[i];
        if ((status = dnnl_memory_set_data_handle(a->user_memory, pointers[i]))) goto done;
        dnnl_memory_t memory = a->user_memory;
        if (a->internal_memory) {
            if ((status = dnnl_memory_set_data_handle(a->internal_memory, next))) goto done;
            next += (a->internal_bytes + 4095) / 4096 * 4096;
            memory = a->internal_memory;
            if (!a->is_output && !(weights_in_place && per_image(&op->shape, a->name) == 0)) {
                dnnl_exec_arg_t reorder_arguments[] = {{DNNL_ARG_FROM, a->user_memory}, {DNNL_ARG_TO, memory}};
                if ((status = dnnl_primitive_execute(a->reorder, stream, 2, reorder_arguments))) goto done;
            }
        }
        primitive_arguments[i] = (dnnl_exec_arg_t){a->name, memory};
    }
    int count = op->argument_count;
    if (op->scratchpad) {
        if ((status = dnnl_memory_set_data_handle(op->scratchpad, next))) goto done;
        primitive_arguments[count++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, op->scratchpad};
    }
    if ((status = dnnl_primitive_execute(op->primitive, stream, count, primitive_arguments))) goto done;
    for (int i = 0; i < op->argument_count; i++) {
        argument *a = &op->arguments[i];
        if (a->is_output && a->reorder) {
            dnnl_exec_arg_t reorder_arguments[] = {{DNNL_ARG_FROM, a->internal_memory}, {DNNL_ARG_TO, a->user_memory}};
            if ((status = dnnl_primitive_execute(a->reorder, stream, 2, reorder_arguments))) goto done;
        }
    }
    status = dnnl_stream_wait(stream);
done:
    if (status > 0) snprintf(last_error, sizeof last_error, "executing a oneDNN convolution failed with status %d", status);
    return status;
}

/// Floats per image of an argument: activations advance with the image, weights and bias do not.
static long per_image(const gentrain_convolution_shape *s, int name) {
    switch (name) {
    case DNNL_ARG_SRC: case DNNL_ARG_DIFF_SRC: return s->input_channels * s->input_height * s->input_width;
    case DNNL_ARG_DST: case DNNL_ARG_DIFF_DST: return s->output_channels * s->output_height * s->output_width;
    default: return 0;
    }
}

/// Runs the operation over chunks of images (NCHW keeps each image contiguous); every chunk's outputs go to
/// their own images, and weight gradients add up over the chunks.
/// Images per chunk under `settings`.
static long images_per_chunk(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings) {
    long image_bytes = 4 * (per_image(shape, DNNL_ARG_SRC) + per_image(shape, DNNL_ARG_DST));
    long chunk = settings->chunk_bytes / image_bytes;
    if (chunk < 1) chunk = 1;
    return chunk > shape->batch ? shape->batch : chunk;
}

static int run(enum kind kind, const gentrain_convolution_shape *shape, gentrain_activation_layouts layouts, int with_bias,
               int accumulate, const gentrain_onednn_settings *settings, void *const *pointers) {
    long chunk = images_per_chunk(shape, settings);
    int status = 0;
    pthread_mutex_lock(&lock);
    operation *previous = NULL;
    for (long first = 0; first < shape->batch && !status; first += chunk) {
        gentrain_convolution_shape part = *shape;
        part.batch = shape->batch - first < chunk ? shape->batch - first : chunk;
        operation *op;
        if ((status = find(kind, &part, layouts, with_bias, accumulate, settings->threads, &op))) break;
        void *offset[maximum_arguments];
        for (int i = 0; i < op->argument_count; i++)
            offset[i] = (float *)pointers[i] + first * per_image(shape, op->arguments[i].name);
        status = execute(op, offset, settings->threads, op == previous);
        previous = op;
    }
    pthread_mutex_unlock(&lock);
    return status;
}

int gentrain_onednn_convolution_forward(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                        gentrain_activation_layouts layouts, int accumulate, float *output, const float *input,
                                        const float *weight, const float *bias) {
    if (bias) {
        void *pointers[] = {(void *)input, (void *)weight, (void *)bias, output};
        return run(kind_forward, shape, layouts, 1, accumulate ? 1 : 0, settings, pointers);
    }
    void *pointers[] = {(void *)input, (void *)weight, output};
    return run(kind_forward, shape, layouts, 0, accumulate ? 1 : 0, settings, pointers);
}

int gentrain_onednn_convolution_backward_data(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                              gentrain_activation_layouts layouts, int accumulate, float *input_gradient,
                                              const float *output_gradient, const float *weight) {
    void *pointers[] = {(void *)output_gradient, (void *)weight, input_gradient};
    return run(kind_backward_data, shape, layouts, 0, accumulate ? 1 : 0, settings, pointers);
}

int gentrain_onednn_convolution_backward_weights(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                                 gentrain_activation_layouts layouts, float *weight_gradient,
                                                 const float *output_gradient, const float *input) {
    void *pointers[] = {(void *)input, (void *)output_gradient, weight_gradient};
    return run(kind_backward_weights, shape, layouts, 0, 1, settings, pointers);
}

/// The channel block of `internal` when it is exactly nChw16c or nChw8c of its dimensions, else 0.
static int channel_block(const dnnl_memory_desc_t *internal) {
    const int blocks[] = {16, 8};
    for (int i = 0; i < 2; i++) {
        if (internal->dims[1] % blocks[i]) continue;
        dnnl_memory_desc_t blocked;
        if (dnnl_memory_desc_init_by_tag(&blocked, 4, internal->dims, dnnl_f32, activation_format(blocks[i]))) continue;
        if (dnnl_memory_desc_equal(&blocked, internal)) return blocks[i];
    }
    return 0;
}

int gentrain_onednn_preferred_layouts(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                                      int backward_data, gentrain_activation_layouts *layouts) {
    gentrain_convolution_shape part = *shape;
    part.batch = images_per_chunk(shape, settings);
    gentrain_activation_layouts plain = {0, 0};
    pthread_mutex_lock(&lock);
    operation *op = NULL;
    int status = find(backward_data ? kind_backward_data : kind_forward, &part, plain, 0, 0, settings->threads, &op);
    if (!status) {
        layouts->source_block = layouts->destination_block = 0;
        for (int i = 0; i < op->argument_count; i++) {
            const argument *a = &op->arguments[i];
            if (a->name == DNNL_ARG_SRC || a->name == DNNL_ARG_DIFF_SRC) layouts->source_block = channel_block(&a->internal);
            if (a->name == DNNL_ARG_DST || a->name == DNNL_ARG_DIFF_DST) layouts->destination_block = channel_block(&a->internal);
        }
    }
    pthread_mutex_unlock(&lock);
    return status;
}

/// A cached reorder between two layouts of one activation shape.
typedef struct conversion {
    dnnl_dims_t dims;
    int source_block, destination_block, threads;
    dnnl_primitive_t reorder;
    dnnl_memory_t source, destination;
    struct conversion *next;
} conversion;

static conversion *conversions;

int gentrain_onednn_reorder(long batch, long channels, long height, long width, int source_block, int destination_block,
                            int threads, float *destination, const float *source) {
    pthread_mutex_lock(&lock);
    int status = start_engine();
    threads = use_threads(threads);
    conversion *c = conversions;
    dnnl_dims_t dims = {batch, channels, height, width};
    for (; c && !status; c = c->next) {
        if (c->source_block == source_block && c->destination_block == destination_block && c->threads == threads &&
            !memcmp(c->dims, dims, sizeof dims))
            break;
    }
    if (!status && !c) {
        c = calloc(1, sizeof *c);
        dnnl_memory_desc_t from, to;
        dnnl_primitive_desc_t description = NULL;
        if (!c) status = -1;
        if (!status) status = dnnl_memory_desc_init_by_tag(&from, 4, dims, dnnl_f32, activation_format(source_block));
        if (!status) status = dnnl_memory_desc_init_by_tag(&to, 4, dims, dnnl_f32, activation_format(destination_block));
        if (!status) status = dnnl_reorder_primitive_desc_create(&description, &from, engine, &to, engine, NULL);
        if (!status) status = dnnl_primitive_create(&c->reorder, description);
        if (description) dnnl_primitive_desc_destroy(description);
        if (!status) status = dnnl_memory_create(&c->source, &from, engine, DNNL_MEMORY_NONE);
        if (!status) status = dnnl_memory_create(&c->destination, &to, engine, DNNL_MEMORY_NONE);
        if (status) {
            free(c);  // a failure here is a programming error (an unsupported block); its primitives are leaked
            c = NULL;
        } else {
            memcpy(c->dims, dims, sizeof dims);
            c->source_block = source_block;
            c->destination_block = destination_block;
            c->threads = threads;
            c->next = conversions;
            conversions = c;
        }
    }
    if (!status) {
        status = dnnl_memory_set_data_handle(c->source, (void *)source);
        if (!status) status = dnnl_memory_set_data_handle(c->destination, destination);
        dnnl_exec_arg_t arguments[] = {{DNNL_ARG_FROM, c->source}, {DNNL_ARG_TO, c->destination}};
        if (!status) status = dnnl_primitive_execute(c->reorder, stream, 2, arguments);
        if (!status) status = dnnl_stream_wait(stream);
    }
    if (status) snprintf(last_error, sizeof last_error, "reordering %ldx%ldx%ldx%ld from block %d to %d failed with status %d",
                         batch, channels, height, width, source_block, destination_block, status);
    pthread_mutex_unlock(&lock);
    return status;
}

int gentrain_onednn_describe(const gentrain_convolution_shape *shape, const gentrain_onednn_settings *settings,
                             char *buffer, size_t capacity) {
    gentrain_convolution_shape part = *shape;
    part.batch = images_per_chunk(shape, settings);
    gentrain_activation_layouts plain = {0, 0};
    pthread_mutex_lock(&lock);
    operation *forward = NULL, *data = NULL, *weights = NULL;
    int status = find(kind_forward, &part, plain, 0, 0, settings->threads, &forward);
    if (!status) status = find(kind_backward_data, &part, plain, 0, 1, settings->threads, &data);
    if (!status) status = find(kind_backward_weights, &part, plain, 0, 1, settings->threads, &weights);
    if (!status)
        snprintf(buffer, capacity, "%s / %s / %s (%ld images per chunk)", forward->implementation, data->implementation,
                 weights->implementation, part.batch);
    pthread_mutex_unlock(&lock);
    return status;
}
