"""Run an OpenVINO IR graph (``model.xml`` + ``model.bin``, IR version 10) with torch operations.

This is what turns the teacher network of issue 28 (MobileStyleGAN, shipped as IR files in the PyPI package
``random-face``) into something differentiable: every constant of the graph becomes a buffer of an
``nn.Module`` and every operation its torch equivalent, so gradients flow to the graph's inputs and the whole
graph moves to a GPU with ``.to("cuda")``. Only OpenVINO's documented opset semantics are used (the op
specification pages of opset1-opset8); the ``openvino`` package itself is needed only to test the result.

The graph is small in node count (~1,000) but not in cost, so :meth:`IRGraph.forward` computes only the
ancestors of the outputs asked for: a caller that wants the features of an early block pays for that block.

Only the op types MobileStyleGAN uses are implemented; any other one is an error at load time, not a silent
mismatch at run time. Nothing here unpickles: the weights are raw little-endian arrays read with numpy.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError

_DTYPES = {"f32": np.float32, "f16": np.float16, "i64": np.int64, "i32": np.int32, "u8": np.uint8,
           "boolean": np.bool_}
MAX_XML_BYTES = 64 * 1024 * 1024  # the teacher's graphs are 0.06 and 0.43 MB


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    type: str
    attrs: dict[str, str]
    inputs: tuple[tuple[str, int], ...]  # (source node id, output index) per input port, in port order
    output_shapes: tuple[tuple[int, ...], ...]  # as declared in the XML (batch 1)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.replace(" ", "").split(",") if v != ""]


def _pads(attrs: dict[str, str]) -> tuple[list[int], list[int]]:
    if attrs.get("auto_pad", "explicit") not in ("explicit", "notset"):
        raise NotImplementedError(f"auto_pad={attrs['auto_pad']}")
    return _ints(attrs.get("pads_begin", "0,0")), _ints(attrs.get("pads_end", "0,0"))


def _conv(x, weight, attrs, groups=1):
    begin, end = _pads(attrs)
    if begin != end:  # torch pads symmetrically; pad the rest explicitly
        x = F.pad(x, [begin[1], end[1], begin[0], end[0]])
        begin = [0, 0]
    return F.conv2d(x, weight, stride=_ints(attrs["strides"]), padding=begin, dilation=_ints(attrs["dilations"]),
                    groups=groups)


def _group_conv(x, weight, attrs):
    g, o, i, kh, kw = weight.shape  # [GROUPS, C_OUT/GROUPS, C_IN/GROUPS, kH, kW]
    return _conv(x, weight.reshape(g * o, i, kh, kw), attrs, groups=g)


def _group_conv_backprop_data(x, weight, attrs):
    if len(attrs.get("output_padding", "0,0").replace("0", "").replace(",", "").strip()):
        raise NotImplementedError("output_padding")
    g, i, o, kh, kw = weight.shape  # [GROUPS, C_IN/GROUPS, C_OUT/GROUPS, kH, kW]: torch's transposed layout
    begin, end = _pads(attrs)
    if begin != end:
        raise NotImplementedError("asymmetric pads in a transposed convolution")
    return F.conv_transpose2d(x, weight.reshape(g * i, o, kh, kw), stride=_ints(attrs["strides"]), padding=begin,
                              dilation=_ints(attrs["dilations"]), groups=g)


def _matmul(a, b, attrs):
    if attrs.get("transpose_a") == "true":
        a = a.transpose(-1, -2)
    if attrs.get("transpose_b") == "true":
        b = b.transpose(-1, -2)
    return a @ b


def _prelu(x, slope, attrs):
    if slope.numel() > 1 and x.dim() > 1:  # a per-channel slope runs along axis 1
        slope = slope.reshape(1, -1, *([1] * (x.dim() - 2)))
    return torch.where(x >= 0, x, x * slope)


def _gather(data, indices, axis, attrs):
    if int(attrs.get("batch_dims", "0")) != 0:
        raise NotImplementedError("Gather with batch_dims")
    axis = int(axis)
    axis = axis + data.dim() if axis < 0 else axis
    index = indices.long()
    index = torch.where(index < 0, index + data.shape[axis], index)
    return torch.index_select(data, axis, index.reshape(-1)).reshape(
        [*data.shape[:axis], *index.shape, *data.shape[axis + 1:]])


def _axes(tensor, rank):
    return sorted(int(a) + rank if int(a) < 0 else int(a) for a in tensor.reshape(-1).tolist())


def _unsqueeze(x, axes, attrs):
    for axis in _axes(axes, x.dim() + axes.numel()):
        x = x.unsqueeze(axis)
    return x


def _squeeze(x, *axes_and_attrs):
    if len(axes_and_attrs) == 1:  # no axes input: every dimension of size 1 goes
        return x.squeeze()
    for axis in reversed(_axes(axes_and_attrs[0], x.dim())):
        x = x.squeeze(axis)
    return x


def _reshape(x, shape, attrs):
    target = [int(v) for v in shape.reshape(-1).tolist()]
    if attrs.get("special_zero") == "true":  # 0 copies the input's dimension at that index
        target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
    return x.reshape(target)


def _reduce_mean(x, axes, attrs):
    return x.mean(dim=_axes(axes, x.dim()), keepdim=attrs.get("keep_dims") == "true")


def _variadic_split(x, axis, lengths, attrs):
    axis = int(axis)
    axis = axis + x.dim() if axis < 0 else axis
    sizes = [int(v) for v in lengths.reshape(-1).tolist()]
    if -1 in sizes:
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return torch.split(x, sizes, dim=axis)


def _broadcast(x, shape, attrs):
    target = [int(v) for v in shape.reshape(-1).tolist()]
    mode = attrs.get("mode", "numpy")
    if mode == "bidirectional":  # the result has the broadcast of both shapes
        target = list(torch.broadcast_shapes(tuple(x.shape), tuple(target)))
    elif mode != "numpy":
        raise NotImplementedError(f"Broadcast mode {mode}")
    return x.expand(target)


def _tile(x, repeats, attrs):
    reps = [int(v) for v in repeats.reshape(-1).tolist()]
    while len(reps) < x.dim():
        reps.insert(0, 1)
    while x.dim() < len(reps):
        x = x.unsqueeze(0)
    return x.repeat(reps)


def _concat(*inputs_and_attrs):
    *inputs, attrs = inputs_and_attrs
    return torch.cat(inputs, dim=int(attrs["axis"]))


def _elementwise(fn):
    def op(a, b, attrs):
        if attrs.get("auto_broadcast", "numpy") not in ("numpy", "none"):
            raise NotImplementedError(f"auto_broadcast={attrs['auto_broadcast']}")
        return fn(a, b)
    return op


def _shape_of(x, attrs):
    return torch.tensor(list(x.shape), dtype=torch.int64)


# op type → function(*inputs, attrs) returning a tensor or a tuple of tensors (multi-output ops)
OPS: dict[str, Callable] = {
    "Add": _elementwise(torch.add), "Multiply": _elementwise(torch.mul), "Power": _elementwise(torch.pow),
    "MatMul": _matmul, "PReLU": _prelu, "ReduceMean": _reduce_mean,
    "Convolution": _conv, "GroupConvolution": _group_conv,
    "GroupConvolutionBackpropData": _group_conv_backprop_data,
    "ShapeOf": _shape_of, "Gather": _gather, "Unsqueeze": _unsqueeze, "Squeeze": _squeeze, "Concat": _concat,
    "Reshape": _reshape, "VariadicSplit": _variadic_split, "Broadcast": _broadcast, "Tile": _tile,
}


def _read_graph(xml_path: Path) -> tuple[list[Node], dict[str, tuple[str, str, int, int, tuple]]]:
    """The graph's op nodes in topological order, and its constants (id → (name, element type, offset, size,
    shape)). Port ids are mapped to positions: an edge names its source's output *port*, not its index."""
    if xml_path.stat().st_size > MAX_XML_BYTES:
        raise ModelLoadError(f"{xml_path} is {xml_path.stat().st_size} bytes: too large for an IR graph")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as err:
        raise ModelLoadError(f"{xml_path} is not an OpenVINO IR graph: {err}") from err
    if root.tag != "net" or root.find("layers") is None or root.find("edges") is None:
        raise ModelLoadError(f"{xml_path} is not an OpenVINO IR graph (no <net> with <layers> and <edges>)")
    output_index, input_ports, raw, consts = {}, {}, {}, {}
    for layer in root.find("layers"):
        lid, kind = layer.get("id"), layer.get("type")
        data = layer.find("data")
        attrs = dict(data.attrib) if data is not None else {}
        out = layer.find("output")
        outs = list(out) if out is not None else []
        for i, port in enumerate(outs):
            output_index[(lid, port.get("id"))] = i
        inp = layer.find("input")
        input_ports[lid] = [port.get("id") for port in inp] if inp is not None else []
        shapes = tuple(tuple(int(d.text) for d in port.findall("dim")) for port in outs)
        if kind == "Const":
            if attrs.get("element_type") not in _DTYPES:
                raise ModelLoadError(f"{xml_path}: constant {layer.get('name')} has unsupported element type "
                                     f"{attrs.get('element_type')}")
            consts[lid] = (layer.get("name"), attrs["element_type"], int(attrs["offset"]), int(attrs["size"]),
                           tuple(_ints(attrs.get("shape", ""))))
        elif kind not in OPS and kind not in ("Parameter", "Result"):
            raise ModelLoadError(f"{xml_path}: operation {kind} ({layer.get('name')}) is not supported")
        raw[lid] = (layer.get("name"), kind, attrs, shapes)
    sources = {}
    for edge in root.find("edges"):
        src = (edge.get("from-layer"), output_index[(edge.get("from-layer"), edge.get("from-port"))])
        sources[(edge.get("to-layer"), edge.get("to-port"))] = src
    nodes = {lid: Node(lid, name, kind, attrs, tuple(sources[(lid, p)] for p in input_ports[lid]), shapes)
             for lid, (name, kind, attrs, shapes) in raw.items() if kind != "Const"}
    order, seen = [], set()

    def visit(lid):  # depth-first post-order over op nodes (the graphs are shallow enough for an explicit stack)
        stack = [(lid, False)]
        while stack:
            current, expanded = stack.pop()
            if current in seen or current in consts:
                continue
            if expanded:
                seen.add(current)
                order.append(nodes[current])
                continue
            stack.append((current, True))
            stack.extend((src, False) for src, _ in reversed(nodes[current].inputs) if src not in seen)

    for lid in nodes:
        visit(lid)
    return order, consts


class IRGraph(nn.Module):
    """An IR graph as a module: ``graph({parameter name: tensor})`` → {result name: tensor}.

    ``outputs`` names other nodes to return as well (by their IR layer name), and only what they and the
    results need is computed when ``results=False``. Constants are buffers (float ones float32), so
    ``.to(device)`` moves the graph. Integer constants (shapes, axes) stay on the CPU with the shape arithmetic.
    """

    def __init__(self, xml_path: str | Path, bin_path: str | Path | None = None):
        super().__init__()
        xml_path = Path(xml_path)
        bin_path = Path(bin_path) if bin_path else xml_path.with_suffix(".bin")
        for path in (xml_path, bin_path):
            if not path.is_file():
                raise ModelLoadError(f"missing IR file {path}")
        self.nodes, consts = _read_graph(xml_path)
        blob = np.fromfile(bin_path, dtype=np.uint8)
        self._float_consts, self._int_consts = {}, {}
        for lid, (name, dtype, offset, size, shape) in consts.items():
            if offset < 0 or offset + size > blob.size:
                raise ModelLoadError(f"{bin_path} is too short for constant {name} (needs bytes {offset}-"
                                     f"{offset + size}, has {blob.size}): the IR files do not belong together")
            array = blob[offset:offset + size].view(_DTYPES[dtype]).reshape(shape)
            tensor = torch.from_numpy(array.copy())
            if tensor.is_floating_point():
                buffer = f"const_{lid}"
                self.register_buffer(buffer, tensor.float(), persistent=False)
                self._float_consts[lid] = buffer
            else:
                self._int_consts[lid] = tensor
        self.parameters_by_name = {n.name: n.id for n in self.nodes if n.type == "Parameter"}
        self.results = {n.name.split("/sink_port")[0]: n.inputs[0] for n in self.nodes if n.type == "Result"}
        self.by_name = {n.name: n for n in self.nodes}
        self._by_id = {n.id: n for n in self.nodes}
        self._consumers: dict[str, list[Node]] = {}
        for node in self.nodes:
            for src, _ in node.inputs:
                self._consumers.setdefault(src, []).append(node)

    def const(self, node_id: str) -> torch.Tensor:
        return getattr(self, self._float_consts[node_id]) if node_id in self._float_consts \
            else self._int_consts[node_id]

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def is_const(self, node_id: str) -> bool:
        return node_id in self._float_consts or node_id in self._int_consts

    def consumers(self, node_id: str) -> list[Node]:
        return self._consumers.get(node_id, [])

    def _needed(self, targets: list[str], fed: set[str]) -> set[str]:
        needed, stack = set(), list(targets)
        while stack:
            lid = stack.pop()
            if lid in needed or self.is_const(lid):
                continue
            needed.add(lid)
            if lid not in fed:
                stack.extend(src for src, _ in self._by_id[lid].inputs)
        return needed

    def forward(self, inputs: dict[str, torch.Tensor], outputs: tuple[str, ...] = (), results: bool = True,
                feeds: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """``inputs``: the Parameters by name. ``feeds``: values that replace named nodes' outputs (node id →
        tensor; used for per-layer styles). Returns the results (unless ``results=False``) and ``outputs``."""
        unknown = [name for name in outputs if name not in self.by_name]
        if unknown:
            raise KeyError(f"no node named {unknown[0]!r} in the graph")
        values: dict[str, tuple] = {self.parameters_by_name[name]: (tensor,) for name, tensor in inputs.items()}
        for lid, tensor in (feeds or {}).items():
            values[lid] = (tensor,)
        missing = [name for name, lid in self.parameters_by_name.items() if lid not in values]
        targets = [self.by_name[name].id for name in outputs]
        if results:
            targets += [src for src, _ in self.results.values()]
        needed = self._needed(targets, set(values))
        if missing and any(self.parameters_by_name[m] in needed for m in missing):
            raise ValueError(f"missing graph input(s): {', '.join(missing)}")
        # Free each value once the last node that reads it has run: the 512-px maps are ~0.5 GB each at batch 8.
        # (Autograd keeps what the backward pass needs by itself.)
        keep = set(targets)
        uses: dict[str, int] = {}
        for node in self.nodes:
            if node.id in needed and node.id not in values:
                for src, _ in node.inputs:
                    uses[src] = uses.get(src, 0) + 1
        for node in self.nodes:
            if node.id not in needed or node.id in values or node.type in ("Parameter", "Result"):
                continue
            args = [self.const(src) if self.is_const(src) else values[src][index] for src, index in node.inputs]
            out = OPS[node.type](*args, node.attrs)
            values[node.id] = out if isinstance(out, tuple) else (out,)
            for src, _ in node.inputs:
                uses[src] -= 1
                if uses[src] == 0 and src not in keep and src in values:
                    del values[src]
        answer = {name: values[self.by_name[name].id][0] for name in outputs}
        if results:
            answer.update({name: values[src][index] for name, (src, index) in self.results.items()})
        return answer
