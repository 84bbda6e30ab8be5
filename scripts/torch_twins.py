"""PyTorch twins of gentrain's models: the same architectures under the same module names, so that
`gentrain export --format safetensors` loads with `load_state_dict(strict=True)` and gives the same outputs.

Names follow gentrain's parameter names (Sources/Models/*.swift) without the last component: gentrain's
`encoder.conv1.kernel` is the module `encoder.conv1` here. A model of several groups (the DCGAN) has one
submodule per group (`generator`, `discriminator`).

Keras `same` padding differs from PyTorch's symmetric `padding=`: a stride-2 convolution of an even input pads
one row and column *after* only, and a transposed convolution crops (k - s) // 2 rows and columns before its
output. `SameConv2d` and `SameConvTranspose2d` do exactly that around an unpadded Conv2d / ConvTranspose2d, so
their parameters (`weight` [out, in, kh, kw] and [in, out, kh, kw], `bias`) are PyTorch's own.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

# One input image: [C, H, W]. A twin's `pixels` is its input range (gentrain's data.scale), (0, 1) unless it says.
IMAGE = (1, 28, 28)


class SameConv2d(nn.Conv2d):
    """Conv2d with Keras `same` padding: output ceil(in / stride), the odd padding row/column after."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x):
        pads = []
        for size in (x.shape[3], x.shape[2]):  # F.pad takes the last axis first
            k, s = self.kernel_size[0], self.stride[0]
            out = (size + s - 1) // s
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d with Keras `same` padding: output in * stride, (k - s) // 2 rows/columns cropped before."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        full = super().forward(x)
        begin = max(k - s, 0) // 2
        h, w = x.shape[2] * s, x.shape[3] * s
        return full[:, :, begin:begin + h, begin:begin + w]


# ----------------------------------------------------------------------------
# Autoencoder and VAE (Sources/Models/Autoencoder.swift, VariationalAutoencoder.swift)
# ----------------------------------------------------------------------------
class Encoder(nn.Module):
    """conv1..conv4 (3x3, ReLU; strides 1, 2, 2, 1) -> flatten (C, H, W order) -> one Linear per head."""

    def __init__(self, latent, heads):
        super().__init__()
        self.conv1 = SameConv2d(1, 32, 3, 1)
        self.conv2 = SameConv2d(32, 64, 3, 2)
        self.conv3 = SameConv2d(64, 64, 3, 2)
        self.conv4 = SameConv2d(64, 64, 3, 1)
        self.heads = list(heads)
        for head in self.heads:
            setattr(self, head, nn.Linear(7 * 7 * 64, latent))

    def trunk(self, x):
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.relu(conv(x))
        return x.flatten(1)

    def forward(self, x):
        h = self.trunk(x)
        return [getattr(self, head)(h) for head in self.heads]


class Decoder(nn.Module):
    """dense (linear) -> view (64, 7, 7) -> deconv1..deconv4 (3x3; strides 1, 2, 2, 1; ReLU, last: `last`)."""

    def __init__(self, latent, last):
        super().__init__()
        self.dense = nn.Linear(latent, 7 * 7 * 64)
        self.deconv1 = SameConvTranspose2d(64, 64, 3, 1)
        self.deconv2 = SameConvTranspose2d(64, 64, 3, 2)
        self.deconv3 = SameConvTranspose2d(64, 32, 3, 2)
        self.deconv4 = SameConvTranspose2d(32, 1, 3, 1)
        self.last = last

    def forward(self, z):
        x = self.dense(z).view(-1, 64, 7, 7)
        for deconv in (self.deconv1, self.deconv2, self.deconv3):
            x = F.relu(deconv(x))
        return self.last(self.deconv4(x))


class Autoencoder(nn.Module):
    pixels = (0.0, 1.0)

    def __init__(self, latent=32):
        super().__init__()
        self.encoder = Encoder(latent, ["dense"])
        self.decoder = Decoder(latent, F.relu)

    def passes(self):
        """gentrain's inference passes (`gentrain forward`): name -> (shape of one input sample, function)."""
        latent = self.decoder.dense.in_features
        return {
            "latent": (IMAGE, lambda x: self.encoder(x)[0]),
            "reconstruction": (IMAGE, lambda x: self.decoder(self.encoder(x)[0])),
            "decoded": ((latent,), self.decoder),
        }


class VariationalAutoencoder(nn.Module):
    pixels = (0.0, 1.0)

    def __init__(self, latent=32):
        super().__init__()
        self.encoder = Encoder(latent, ["mean", "log_variance"])
        self.decoder = Decoder(latent, torch.sigmoid)

    def passes(self):
        latent = self.decoder.dense.in_features
        return {
            "mean": (IMAGE, lambda x: self.encoder(x)[0]),
            "log_variance": (IMAGE, lambda x: self.encoder(x)[1]),
            "reconstruction": (IMAGE, lambda x: self.decoder(self.encoder(x)[0])),
            "decoded": ((latent,), self.decoder),
        }


class DiscreteVariationalAutoencoder(nn.Module):
    """The VAE's trunk -> Linear(3136, variables * categories) logits; the decoder from the one-hot (or relaxed) code."""

    pixels = (0.0, 1.0)

    def __init__(self, variables=30, categories=10):
        super().__init__()
        self.code_shape = (variables, categories)
        self.encoder = Encoder(variables * categories, ["logits"])
        self.decoder = Decoder(variables * categories, torch.sigmoid)

    def logits(self, x):
        return self.encoder(x)[0].view(-1, *self.code_shape)

    def most_probable_code(self, x):
        return F.one_hot(self.logits(x).argmax(-1), self.code_shape[1]).float()

    def passes(self):
        return {
            "logits": (IMAGE, self.logits),
            "reconstruction": (IMAGE, lambda x: self.decoder(self.most_probable_code(x).flatten(1))),
            "decoded": (self.code_shape, lambda code: self.decoder(code.flatten(1))),
        }


# ----------------------------------------------------------------------------
# DCGAN (Sources/Models/DCGAN.swift)
# ----------------------------------------------------------------------------
class Generator(nn.Module):
    def __init__(self, latent=100):
        super().__init__()
        self.dense = nn.Linear(latent, 7 * 7 * 256)
        self.deconv1 = SameConvTranspose2d(256, 128, 4, 2)
        self.deconv2 = SameConvTranspose2d(128, 64, 4, 2)
        self.conv = SameConv2d(64, 1, 3, 1)

    def forward(self, z):
        x = F.leaky_relu(self.dense(z), 0.2).view(-1, 256, 7, 7)
        x = F.leaky_relu(self.deconv1(x), 0.2)
        x = F.leaky_relu(self.deconv2(x), 0.2)
        return torch.tanh(self.conv(x))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = SameConv2d(1, 64, 3, 1)
        self.conv2 = SameConv2d(64, 128, 3, 2)
        self.conv3 = SameConv2d(128, 128, 3, 2)
        self.conv4 = SameConv2d(128, 256, 3, 2)
        self.dropout = nn.Dropout(0.4)
        self.dense = nn.Linear(4 * 4 * 256, 1)

    def forward(self, x):
        """Logits (gentrain's loss applies the sigmoid)."""
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu(conv(x), 0.2)
        return self.dense(self.dropout(x.flatten(1)))


class DCGAN(nn.Module):
    def __init__(self, latent=100):
        super().__init__()
        self.generator = Generator(latent)
        self.discriminator = Discriminator()

    pixels = (-1.0, 1.0)

    def passes(self):
        latent = self.generator.dense.in_features
        return {"generator": ((latent,), self.generator), "discriminator": (IMAGE, self.discriminator)}


# ----------------------------------------------------------------------------
# SAGAN (Sources/Models/SAGAN.swift): every convolution and Linear under torch.nn.utils.spectral_norm (weight_orig,
# weight_u, weight_v; ConvTranspose2d over dim 1), which in eval mode divides by u^T W v with the stored vectors.
# ----------------------------------------------------------------------------
def normalised(module):
    return nn.utils.spectral_norm(module)


class SelfAttention(nn.Module):
    """query, key: 1x1 convolutions to C/8; value to C/2; softmax over the key positions; output 1x1 back to C;
    x + gamma o."""

    def __init__(self, channels, spectral=True):
        super().__init__()
        wrap = normalised if spectral else (lambda module: module)
        self.query = wrap(nn.Conv2d(channels, channels // 8, 1))
        self.key = wrap(nn.Conv2d(channels, channels // 8, 1))
        self.value = wrap(nn.Conv2d(channels, channels // 2, 1))
        self.output = wrap(nn.Conv2d(channels // 2, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.query(x).flatten(2), self.key(x).flatten(2), self.value(x).flatten(2)  # [N, C', P]
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)                                # [N, P(query), P(key)]
        attended = (v @ attention.transpose(1, 2)).view(n, -1, h, w)                            # [N, C/2, H, W]
        return x + self.gamma * self.output(attended)


class AttentionGenerator(nn.Module):
    """Each normalised layer but the last followed by GroupNorm(8, eps 1e-3, gentrain's Keras epsilon) and LeakyReLU."""

    def __init__(self, latent=100):
        super().__init__()
        self.dense = normalised(nn.Linear(latent, 7 * 7 * 256))
        self.dense_norm = nn.GroupNorm(8, 256, eps=1e-3)
        self.deconv1 = normalised(SameConvTranspose2d(256, 128, 4, 2))
        self.deconv1_norm = nn.GroupNorm(8, 128, eps=1e-3)
        self.attention = SelfAttention(128)
        self.deconv2 = normalised(SameConvTranspose2d(128, 64, 4, 2))
        self.deconv2_norm = nn.GroupNorm(8, 64, eps=1e-3)
        self.conv = normalised(SameConv2d(64, 1, 3, 1))

    def forward(self, z):
        x = F.leaky_relu(self.dense_norm(self.dense(z).view(-1, 256, 7, 7)), 0.2)
        x = self.attention(F.leaky_relu(self.deconv1_norm(self.deconv1(x)), 0.2))
        x = F.leaky_relu(self.deconv2_norm(self.deconv2(x)), 0.2)
        return torch.tanh(self.conv(x))


class AttentionDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = normalised(SameConv2d(1, 64, 3, 1))
        self.conv2 = normalised(SameConv2d(64, 128, 3, 2))
        self.attention = SelfAttention(128)
        self.conv3 = normalised(SameConv2d(128, 128, 3, 2))
        self.conv4 = normalised(SameConv2d(128, 256, 3, 2))
        self.dense = normalised(nn.Linear(4 * 4 * 256, 1))

    def forward(self, x):
        x = F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)
        x = self.attention(x)
        x = F.leaky_relu(self.conv4(F.leaky_relu(self.conv3(x), 0.2)), 0.2)
        return self.dense(x.flatten(1))


class SAGAN(nn.Module):
    pixels = (-1.0, 1.0)

    def __init__(self, latent=100):
        super().__init__()
        self.generator = AttentionGenerator(latent)
        self.discriminator = AttentionDiscriminator()

    def passes(self):
        latent = self.generator.dense.in_features
        return {"generator": ((latent,), self.generator), "discriminator": (IMAGE, self.discriminator)}


# ----------------------------------------------------------------------------
# Classifier (Sources/Models/Classifier.swift)
# ----------------------------------------------------------------------------
class Classifier(nn.Module):
    """[conv (3x3, no bias) -> BatchNorm (eps 1e-3, Keras momentum 0.99) -> ReLU -> AvgPool 2] x2 -> flatten
    -> features Linear(1568, 64) -> ReLU -> Dropout(0.2) -> logits Linear(64, 10)."""

    pixels = (0.0, 1.0)

    def __init__(self):
        super().__init__()
        self.conv1 = SameConv2d(1, 16, 3, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(16, eps=1e-3, momentum=0.01)
        self.conv2 = SameConv2d(16, 32, 3, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        self.features = nn.Linear(7 * 7 * 32, 64)
        self.dropout = nn.Dropout(0.2)
        self.logits = nn.Linear(64, 10)

    def feature_values(self, x):
        for conv, norm in ((self.conv1, self.norm1), (self.conv2, self.norm2)):
            x = F.avg_pool2d(F.relu(norm(conv(x))), 2)
        return self.features(x.flatten(1))

    def forward(self, x):
        return self.logits(self.dropout(F.relu(self.feature_values(x))))

    def passes(self):
        return {"features": (IMAGE, self.feature_values), "logits": (IMAGE, self.forward)}


# gentrain's model kinds (model.kind in a job) -> the twin's constructor.
TWINS = {
    "autoencoder": Autoencoder,
    "vae": VariationalAutoencoder,
    "dvae": DiscreteVariationalAutoencoder,
    "dcgan": DCGAN,
    "sagan": SAGAN,
    "classifier": Classifier,
}
