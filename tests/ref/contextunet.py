"""PyTorch reference for lesson 01's ContextUnet (run with /usr/bin/python3).

The model is written here from the course's description, with the course's module names so
that its state_dict keys are the course's (plus `init_conv.shortcut`, tinydiff's fix of the
course's untrained shortcut). For each case the fixture stores the weights ("<case>.param.<key>"),
the inputs, the output eps, a random grad_out, and the gradients of the input and of every
parameter, computed in training mode (BatchNorm uses batch statistics).

Run as a script it writes the fixture; imported (tests/bench/bench_torch.py) it only defines
the model.
"""
import torch
import torch.nn as nn

from common import save


class ResidualConvBlock(nn.Module):
    def __init__(self, cin, cout, is_res=False):
        super().__init__()
        self.is_res, self.same = is_res, cin == cout
        self.conv1 = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.GELU())
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.GELU())
        if is_res and not self.same:
            self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        x2 = self.conv2(self.conv1(x))
        if not self.is_res:
            return x2
        return ((x if self.same else self.shortcut(x)) + x2) / 1.414


class UnetDown(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.model = nn.Sequential(ResidualConvBlock(cin, cout), ResidualConvBlock(cout, cout), nn.MaxPool2d(2))

    def forward(self, x):
        return self.model(x)


class UnetUp(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, 2),
                                   ResidualConvBlock(cout, cout), ResidualConvBlock(cout, cout))

    def forward(self, x, skip):
        return self.model(torch.cat((x, skip), 1))


class EmbedFC(nn.Module):
    def __init__(self, din, demb):
        super().__init__()
        self.din = din
        self.model = nn.Sequential(nn.Linear(din, demb), nn.GELU(), nn.Linear(demb, demb))

    def forward(self, x):
        return self.model(x.view(-1, self.din))


class ContextUnet(nn.Module):
    def __init__(self, cin, n_feat, n_cfeat, h):
        super().__init__()
        self.n_feat, self.n_cfeat = n_feat, n_cfeat
        n, q = n_feat, h // 4
        self.init_conv = ResidualConvBlock(cin, n, is_res=True)
        self.down1, self.down2 = UnetDown(n, n), UnetDown(n, 2 * n)
        self.to_vec = nn.Sequential(nn.AvgPool2d(q), nn.GELU())
        self.timeembed1, self.timeembed2 = EmbedFC(1, 2 * n), EmbedFC(1, n)
        self.contextembed1, self.contextembed2 = EmbedFC(n_cfeat, 2 * n), EmbedFC(n_cfeat, n)
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * n, 2 * n, q, q), nn.GroupNorm(8, 2 * n), nn.ReLU())
        self.up1, self.up2 = UnetUp(4 * n, n), UnetUp(2 * n, n)
        self.out = nn.Sequential(nn.Conv2d(2 * n, n, 3, 1, 1), nn.GroupNorm(8, n), nn.ReLU(),
                                 nn.Conv2d(n, cin, 3, 1, 1))

    def forward(self, x, t, c=None):
        x = self.init_conv(x)
        down1 = self.down1(x)
        down2 = self.down2(down1)
        hidden = self.to_vec(down2)
        if c is None:
            c = torch.zeros(x.shape[0], self.n_cfeat, device=x.device)
        n = self.n_feat
        cemb1 = self.contextembed1(c).view(-1, 2 * n, 1, 1)
        temb1 = self.timeembed1(t).view(-1, 2 * n, 1, 1)
        cemb2 = self.contextembed2(c).view(-1, n, 1, 1)
        temb2 = self.timeembed2(t).view(-1, n, 1, 1)
        up1 = self.up0(hidden)
        up2 = self.up1(cemb1 * up1 + temb1, down2)
        up3 = self.up2(cemb2 * up2 + temb2, down1)
        return self.out(torch.cat((up3, x), 1))


def make_case(store, name, cin, h, n_cfeat, with_context, seed):
    torch.manual_seed(seed)
    model = ContextUnet(cin, 8, n_cfeat, h)
    for p in model.parameters():  # move BatchNorm/GroupNorm affine params off 1/0
        with torch.no_grad():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.randn(3, cin, h, h, requires_grad=True)
    t = torch.rand(3, 1)
    c = nn.functional.one_hot(torch.tensor([0, 2, 1]), n_cfeat).float() if with_context else None
    for k, v in model.state_dict().items():
        store[f"{name}.param.{k}"] = v
    out = model(x, t, c)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1))
    out.backward(g)
    store[f"{name}.x"], store[f"{name}.t"] = x.detach(), t
    if c is not None:
        store[f"{name}.c"] = c
    store[f"{name}.out"], store[f"{name}.grad_out"] = out.detach(), g
    store[f"{name}.grad.x"] = x.grad
    for k, p in model.named_parameters():
        store[f"{name}.grad.{k}"] = p.grad
    return list(model.state_dict().keys())


if __name__ == "__main__":  # importing the model (tests/bench/bench_torch.py) writes nothing
    store = {}
    keys = make_case(store, "sprites", 3, 16, 5, True, 0)
    make_case(store, "sprites_nocontext", 3, 16, 5, False, 1)
    make_case(store, "mnist", 1, 28, 10, True, 2)
    save("contextunet", store, {"state_dict_keys": ",".join(keys)})
