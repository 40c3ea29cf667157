"""Bad IR files: every fault ends in a kiln.IRError that names the file, the layer (id and name)
and the fault; never a crash, a hang or an allocation sized by what the file claims.

Each case starts from a valid pair kiln wrote (a small conv net, and a scripted model with If
and Loop bodies) and damages the XML text or the weights.
"""
from __future__ import annotations

import re
import subprocess
import sys
import os
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import kiln

import ir_cases

CORE = kiln.Core()


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(torch.relu(self.conv(x))) + 1.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("ir")
    torch.manual_seed(0)
    km = ir_cases.quiet_convert(Small().eval(), example_input=torch.zeros(1, 3, 8, 8))
    kiln.save_model(km, d / "small.xml")
    _, cf, _ = ir_cases.build_ifloop()
    kiln.save_model(cf, d / "cf.xml")
    return {"xml": (d / "small.xml").read_text(), "bin": (d / "small.bin").read_bytes(),
            "cf_xml": (d / "cf.xml").read_text(), "cf_bin": (d / "cf.bin").read_bytes()}


def write(tmp_path, xml, bin_=None, name="bad"):
    p = tmp_path / f"{name}.xml"
    p.write_text(xml)
    if bin_ is not None:
        (tmp_path / f"{name}.bin").write_bytes(bin_)
    return p


def expect(path, *patterns):
    with pytest.raises(kiln.IRError) as e:
        CORE.read_model(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    for p in patterns:
        assert re.search(p, msg), f"{p!r} not in: {msg}"
    return msg


def layer_of(xml, type_):
    m = re.search(rf'<layer id="(\d+)" name="([^"]*)" type="{type_}" version="(\w+)"', xml)
    return m.group(1), m.group(2), m.group(3)


def test_the_valid_pairs_read(pair, tmp_path):
    CORE.read_model(write(tmp_path, pair["xml"], pair["bin"]))
    CORE.read_model(write(tmp_path, pair["cf_xml"], pair["cf_bin"], "cf"))


# ---- the XML itself

def test_malformed_xml(pair, tmp_path):
    expect(write(tmp_path, pair["xml"].replace("</layer>", "</layr>", 1), pair["bin"]), r"malformed XML at byte \d+")


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.93])
def test_truncated_xml(pair, tmp_path, fraction):
    xml = pair["xml"]
    expect(write(tmp_path, xml[:int(len(xml) * fraction)], pair["bin"]), r"malformed XML|no <layers>|not <net>")


def test_not_an_ir_file(pair, tmp_path):
    expect(write(tmp_path, "<html><body/></html>", pair["bin"]), "not <net>")
    expect(write(tmp_path, pair["xml"].replace('version="11"', 'version="7"', 1), pair["bin"]), "IR version '7'")


def test_missing_file(tmp_path):
    with pytest.raises(kiln.IRError, match="nothing.xml: cannot open"):
        CORE.read_model(tmp_path / "nothing.xml")
    with pytest.raises(kiln.IRError, match="not a regular file"):
        CORE.read_model(tmp_path)


# ---- layers and attributes

def test_missing_attribute(pair, tmp_path):
    xml = pair["xml"]
    lid, name, ver = layer_of(xml, "Convolution")
    bad = re.sub(r'(type="Convolution" version="opset1">\s*<data [^>]*?)strides="[^"]*" ', r"\1", xml, count=1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid} '{re.escape(name)}' \(Convolution-opset1\)", "missing attribute 'strides'")
    pid, pname, _ = layer_of(xml, "Parameter")
    bad = xml.replace('<data element_type="f32" shape="?,?,?,?" />', '<data shape="?,?,?,?" />', 1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {pid} '{pname}'", "missing attribute 'element_type'")
    bad = xml.replace(f'<layer id="{lid}" name="{name}" ', f'<layer id="{lid}" ', 1)
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid} ''", "missing attribute 'name'")
    bad = xml.replace(' version="opset1"', "", 1)
    expect(write(tmp_path, bad, pair["bin"]), "missing attribute 'version'")


def test_bad_attribute_value(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "Convolution")
    bad = re.sub(r'(type="Convolution" version="opset1">\s*<data [^>]*?)strides="[^"]*"', r'\1strides="1, x"', xml, count=1)
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid} '{re.escape(name)}'", r"attribute 'strides' has value '1, x', expected a comma-separated list of integers")
    bad = re.sub(r'auto_pad="explicit"', 'auto_pad="sideways"', xml, count=1)
    expect(write(tmp_path, bad, pair["bin"]), r"attribute 'auto_pad' has value 'sideways', expected one of")
    bad = xml.replace('element_type="f32" shape="?,?,?,?"', 'element_type="u4" shape="?,?,?,?"', 1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), r"attribute 'element_type' has value 'u4'")
    bad = xml.replace('shape="?,?,?,?"', 'shape="?,3,-7,?"', 1)
    expect(write(tmp_path, bad, pair["bin"]), r"attribute 'shape' has value '\?,3,-7,\?'")


def test_unknown_attribute(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "Convolution")
    bad = re.sub(r'(type="Convolution" version="opset1">\s*<data )', r'\1groups="2" ', xml, count=1)
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid}", r"attribute 'groups' is not an attribute of Convolution-1")


def test_unknown_op_type_and_version(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "ReLU")
    expect(write(tmp_path, xml.replace('type="ReLU"', 'type="Frobnicate"', 1), pair["bin"]),
           rf"layer {lid} '{re.escape(name)}' \(Frobnicate-opset1\)", "unknown op type 'Frobnicate'")
    expect(write(tmp_path, xml.replace('type="ReLU" version="opset1"', 'type="ReLU" version="opset99"', 1), pair["bin"]),
           rf"layer {lid}", "unknown op version 'opset99'")
    expect(write(tmp_path, xml.replace('type="ReLU" version="opset1"', 'type="ReLU" version="extension"', 1), pair["bin"]),
           "unknown op version 'extension'")
    # A type that has no version in the opset named: MaxPool-14's attributes in opset1 terms.
    mid, _, _ = layer_of(xml, "MaxPool")
    expect(write(tmp_path, re.sub(r'type="MaxPool" version="opset\d+"', 'type="ScaledDotProductAttention" version="opset1"', xml, count=1), pair["bin"]),
           rf"layer {mid}", r"ScaledDotProductAttention has no version in opset1 \(kiln has ScaledDotProductAttention-13\)")


def test_duplicate_ids(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "ReLU")
    rid, rname, _ = layer_of(xml, "Convolution")
    expect(write(tmp_path, xml.replace(f'<layer id="{lid}" ', f'<layer id="{rid}" ', 1), pair["bin"]), f"layer id {rid} is used twice")
    bad = re.sub(r'(type="ReLU" version="opset1">\s*<input>\s*<port id=")0(")', r"\g<1>1\2", xml, count=1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid}", "port id 1 is both an input and an output")


def test_edges_to_missing_layers_and_ports(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "ReLU")
    edge = re.search(rf'<edge from-layer="(\d+)" from-port="(\d+)" to-layer="{lid}" to-port="0" />', xml)
    bad = xml.replace(edge.group(0), f'<edge from-layer="777" from-port="0" to-layer="{lid}" to-port="0" />')
    expect(write(tmp_path, bad, pair["bin"]), "layer 777 does not exist")
    bad = xml.replace(edge.group(0), f'<edge from-layer="{edge.group(1)}" from-port="9" to-layer="{lid}" to-port="0" />')
    expect(write(tmp_path, bad, pair["bin"]), "has no output port 9")
    bad = xml.replace(edge.group(0), f'<edge from-layer="{edge.group(1)}" from-port="{edge.group(2)}" to-layer="{lid}" to-port="5" />')
    expect(write(tmp_path, bad, pair["bin"]), rf"'{re.escape(name)}' \(ReLU-opset1\) has no input port 5")
    expect(write(tmp_path, xml.replace(edge.group(0), ""), pair["bin"]), rf"layer {lid} '{re.escape(name)}' .*: input port 0 has no edge")
    expect(write(tmp_path, xml.replace(edge.group(0), edge.group(0) * 2), pair["bin"]), "already has an edge")


def test_cycle(pair, tmp_path):
    xml = pair["xml"]
    rid, rname, _ = layer_of(xml, "ReLU")
    mid, _, _ = layer_of(xml, "MaxPool")
    # The ReLU reads the MaxPool, which reads the ReLU.
    edge = re.search(rf'<edge from-layer="(\d+)" from-port="(\d+)" to-layer="{rid}" to-port="0" />', xml)
    mport = re.search(rf'<edge from-layer="{mid}" from-port="(\d+)"', xml).group(1)
    bad = xml.replace(edge.group(0), f'<edge from-layer="{mid}" from-port="{mport}" to-layer="{rid}" to-port="0" />')
    expect(write(tmp_path, bad, pair["bin"]), "the graph has a cycle through layer")


def test_shapes_that_contradict_shape_inference(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "Convolution")
    # The convolution's output port declares 5 channels; its weights give 4.
    bad = re.sub(r'(type="Convolution" version="opset1">.*?<output>\s*<port id="2" precision="FP32"[^>]*>\s*<dim>-1</dim>\s*<dim>)4(</dim>)',
                 r"\g<1>5\2", xml, count=1, flags=re.S)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid} '{re.escape(name)}'", r"output port 2 \(output 0\) is declared \[\?,5,\?,\?\] but shape inference gives \[\?,4,\?,\?\]")
    bad = re.sub(r'(type="Convolution" version="opset1">.*?<output>\s*<port id="2" precision=")FP32', r"\1I64", xml, count=1, flags=re.S)
    expect(write(tmp_path, bad, pair["bin"]), r"output port 2 is declared I64 but shape inference gives f32")
    # Attributes the convolution's shape inference refuses: it says why.
    bad = re.sub(r'(type="Convolution" version="opset1">\s*<data )strides="1, 1"', r'\1strides="1, 1, 1"', xml, count=1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid} '{re.escape(name)}'",
           r"shape inference failed: \[Convolution .*strides has 3 values, expected 2")


def test_wrong_number_of_output_ports(pair, tmp_path):
    xml = pair["xml"]
    lid, name, _ = layer_of(xml, "MaxPool")
    bad = re.sub(r'(type="MaxPool" version="opset\d+">.*?<output>.*?</port>)\s*<port id="2".*?</port>', r"\1", xml, count=1, flags=re.S)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), rf"layer {lid}", r"declares 1 output port\(s\), MaxPool-8 has 2")


# ---- the weights

def test_weights_missing(pair, tmp_path):
    p = write(tmp_path, pair["xml"])
    cid, cname, _ = layer_of(pair["xml"], "Const")
    expect(p, rf"layer {cid} '{re.escape(cname)}' \(Const-opset1\)", r"needs \d+ bytes of weights, but the weights file is not readable: .*bad.bin: cannot open")


def test_weights_too_short(pair, tmp_path):
    msg = expect(write(tmp_path, pair["xml"], pair["bin"][:100]), r"offset \d+ \+ size \d+ = \d+ is past the end of the weights .*bad.bin \(100 bytes\)")
    assert "layer" in msg


def test_size_that_does_not_fit_shape_and_type(pair, tmp_path):
    xml = pair["xml"]
    bad = re.sub(r'(type="Const" version="opset1">\s*<data element_type="f32" shape="4,3,3,3" offset="\d+" size=")432"', r'\g<1>400"', xml, count=1)
    assert bad != xml
    expect(write(tmp_path, bad, pair["bin"]), r"size=400 bytes does not fit the declared f32 shape \[4,3,3,3\] \(432 bytes\)")
    bad = xml.replace('offset="0"', 'offset="-64"', 1)
    expect(write(tmp_path, bad, pair["bin"]), r"attribute 'offset' has value '-64'")


@pytest.mark.parametrize("shape,size", [("100000,100000,100000", "4000000000000000"),
                                        ("4611686018427387904,4", "0"),
                                        ("3037000500,3037000500,4", "16")])
def test_huge_claims_allocate_nothing(pair, tmp_path, shape, size):
    # A constant claiming petabytes: refused before anything is allocated. Run with 1 GiB of
    # address space to spare, so an allocation sized by the claim would fail loudly.
    bad = re.sub(r'(type="Const" version="opset1">\s*<data element_type="f32" shape=")4,3,3,3(" offset="\d+" size=")432"',
                 rf'\g<1>{shape}\g<2>{size}"', pair["xml"], count=1)
    assert bad != pair["xml"]
    p = write(tmp_path, bad, pair["bin"])
    probe = textwrap.dedent(f"""
        import re, resource, kiln
        size = int(re.search(r"VmSize:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), size + (1 << 30)))  # 1 GiB more
        try:
            kiln.Core().read_model({str(p)!r})
        except kiln.IRError as e:
            print("IRError:", e)
    """)
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr
    assert "IRError:" in r.stdout and str(p) in r.stdout, r.stdout + r.stderr
    assert re.search(r"too large|past the end|does not fit", r.stdout), r.stdout


# ---- sub-graphs

def test_if_and_loop_faults(pair, tmp_path):
    xml, b = pair["cf_xml"], pair["cf_bin"]
    iid, iname, _ = layer_of(xml, "If")
    expect(write(tmp_path, re.sub(r"<then_body>.*?</then_body>", "", xml, count=1, flags=re.S), b, "cf"),
           rf"layer {iid} '{re.escape(iname)}' \(If-opset8\)", "has no <then_body>")
    bad = re.sub(r'(<then_port_map>\s*<input external_port_id="\d+" internal_layer_id=")\d+"', r'\g<1>99"', xml, count=1)
    assert bad != xml
    expect(write(tmp_path, bad, b, "cf"), rf"layer {iid}", "then_port_map: internal_layer_id 99 is not a Parameter of then_body")
    lid, lname, _ = layer_of(xml, "Loop")
    bad = re.sub(r'(<back_edges>\s*<edge from-layer=")\d+"', r'\g<1>98"', xml, count=1)
    expect(write(tmp_path, bad, b, "cf"), rf"layer {lid} '{re.escape(lname)}' \(Loop-opset5\)", "back edge from-layer: layer 98 is not a Result of the body")
    # A fault inside a body names the body's layer after its If.
    bad = re.sub(r'(<then_body>.*?type="Multiply" version=")opset1"', r'\1opset0"', xml, count=1, flags=re.S)
    assert bad != xml
    expect(write(tmp_path, bad, b, "cf"), rf"layer {iid} '{re.escape(iname)}' \(If-opset8\): then_body: layer \d+ '[^']*' \(Multiply-opset0\): unknown op version")


def test_sub_graphs_nested_too_deep(tmp_path):
    # 40 Ifs, each the then_body of the one before: refused at depth 16, not a stack overflow.
    P = ('<layer id="0" name="p" type="Parameter" version="opset1"><data shape="" element_type="f32"/>'
         '<output><port id="0" precision="FP32"/></output></layer>')
    C = ('<layer id="1" name="c" type="Parameter" version="opset1"><data shape="" element_type="boolean"/>'
         '<output><port id="0" precision="BOOL"/></output></layer>')

    def body(depth):
        # depth 0: Parameter p -> Result. depth d: Parameters p, c -> If(c, p, c) whose then_body
        # is body(d - 1) -> Result.
        if depth == 0:
            return (f'<layers>{P}<layer id="1" name="r" type="Result" version="opset1"><input><port id="0" precision="FP32"/>'
                    '</input></layer></layers><edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/></edges>')
        inner_c = '<input external_port_id="2" internal_layer_id="1"/>' if depth > 1 else ""
        inner_r = 3 if depth > 1 else 1
        return (f'<layers>{P}{C}<layer id="2" name="if{depth}" type="If" version="opset8">'
                f'<then_port_map><input external_port_id="1" internal_layer_id="0"/>{inner_c}'
                f'<output external_port_id="3" internal_layer_id="{inner_r}"/></then_port_map>'
                '<else_port_map><input external_port_id="1" internal_layer_id="0"/><output external_port_id="3" internal_layer_id="1"/></else_port_map>'
                '<input><port id="0" precision="BOOL"/><port id="1" precision="FP32"/><port id="2" precision="BOOL"/></input>'
                '<output><port id="3" precision="FP32"/></output>'
                f'<then_body>{body(depth - 1)}</then_body><else_body>{body(0)}</else_body></layer>'
                '<layer id="3" name="r" type="Result" version="opset1"><input><port id="0" precision="FP32"/></input></layer>'
                '</layers><edges><edge from-layer="1" from-port="0" to-layer="2" to-port="0"/>'
                '<edge from-layer="0" from-port="0" to-layer="2" to-port="1"/><edge from-layer="1" from-port="0" to-layer="2" to-port="2"/>'
                '<edge from-layer="2" from-port="3" to-layer="3" to-port="0"/></edges>')
    xml = f'<?xml version="1.0"?><net name="deep" version="11">{body(40)}</net>'
    p = write(tmp_path, xml, b"", "deep")
    expect(p, "sub-graphs are nested more than 16 deep")
    # 10 levels are fine.
    ok = write(tmp_path, f'<?xml version="1.0"?><net name="deep" version="11">{body(10)}</net>', b"", "ok")
    m = CORE.read_model(ok)
    assert CORE.compile_model(m, "CPU")([np.float32(2.5), np.bool_(True)])[0] == np.float32(2.5)


def test_errors_from_memory_name_the_source(pair):
    with pytest.raises(kiln.IRError, match=r"<memory>: layer \d+ '.*' \(Const-opset1\): needs \d+ bytes of weights, but no weights were given"):
        CORE.read_model(pair["xml"])
    with pytest.raises(kiln.IRError, match=r"<memory>: malformed XML"):
        CORE.read_model(pair["xml"][:50], pair["bin"])
    with pytest.raises(TypeError, match="weights: expected bytes"):
        CORE.read_model(pair["xml"], 12)
