"""W&B's ``wandb.watch`` on a real torch model (CPU), ``wandb.login``, and the W&B calls that are
not offered, which raise NotImplementedError naming the nearest mediastore way."""

from __future__ import annotations

import numpy as np
import pytest

import mediastore as ms

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def no_current_run():
    ms.finish()
    yield
    ms.finish()


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def train(net, steps, log=ms.log):
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        log({"loss": loss.item()})


def histogram_rows(store):
    return ms.open(store).sql("SELECT key, step FROM histograms ORDER BY key, step").fetchall()


def test_watch_logs_gradient_and_parameter_histograms_at_the_steps_of_the_loop(tmp_path):
    net = model()
    ms.init(project="p", store=tmp_path)
    ms.watch(net, log="all", log_freq=2)
    train(net, 5)
    ms.finish()
    rows = histogram_rows(tmp_path)
    names = [n for n, _ in net.named_parameters()]  # 0.weight, 0.bias, 2.weight, 2.bias
    # The 2nd and 4th forward and backward pass of each parameter, joining that step's loss.
    expected = sorted([(f"gradients/{n}", s) for n in names for s in (1, 3)] + [(f"parameters/{n}", s) for n in names for s in (1, 3)])
    assert rows == expected
    store = ms.open(tmp_path)
    assert store.sql("SELECT count(*) FROM scalars WHERE key = 'loss'").fetchall() == [(5,)]
    frame = store.sql("SELECT * FROM histograms WHERE key = 'parameters/2.bias' AND step = 3").df()
    hist = store.decode(frame.iloc[0])
    assert hist.counts.sum() == 1 and hist.num_bins == 64


def test_gradients_only_by_default_and_unwatch_and_finish_remove_the_hooks(tmp_path):
    net = model()
    run = ms.init(project="p", store=tmp_path)
    run.watch(net, log_freq=1)
    train(net, 2, run.log)
    run.unwatch(net)
    train(net, 2, run.log)  # no hooks: no more histograms
    run.watch(net, log_freq=1)
    run.finish()
    train(net, 1, lambda d: None)  # hooks removed at finish: a backward after it logs nothing, raises nothing
    rows = histogram_rows(tmp_path)
    assert {k.split("/")[0] for k, _ in rows} == {"gradients"}
    assert sorted({s for _, s in rows}) == [0, 1]


def test_several_models_get_a_prefix_and_log_graph_warns(tmp_path):
    a, b = model(), model()
    run = ms.init(project="p", store=tmp_path)
    with pytest.warns(ms.IgnoredArgumentWarning, match=r"run.watch ignores log_graph=True: mediastore stores no model graphs"):
        ms.watch([a, b], log="parameters", log_freq=1, log_graph=True)
    x = torch.randn(2, 4)
    a(x), b(x)
    run.log({"done": 1})
    run.finish()
    keys = {k for k, _ in histogram_rows(tmp_path)}
    assert "parameters/0.weight" in keys and "parameters/graph_1.0.weight" in keys


def test_watch_checks_its_arguments_and_needs_a_run(tmp_path):
    with pytest.raises(ms.NoRunError, match=r"ms.watch was called with no current run"):
        ms.watch(model())
    with ms.init(project="p", store=tmp_path) as run:
        with pytest.raises(ms.InvalidArgumentError, match=r"watch log='weights' is not one of"):
            run.watch(model(), log="weights")
        with pytest.raises(ms.InvalidArgumentError, match=r"watch log_freq=0; pass an int >= 1"):
            run.watch(model(), log_freq=0)
        with pytest.raises(ms.InvalidArgumentError, match=r"watch takes a torch.nn.Module, got ndarray"):
            run.watch(np.zeros(3))
    with pytest.raises(ms.RunFinishedError, match=r"run.watch needs a running run"):
        run.watch(model())
    ms.unwatch()  # no current run: nothing to do


def test_login_does_nothing_and_returns_true():
    assert ms.login() is True and ms.login(key="abc", relogin=True) is True


@pytest.mark.parametrize("call, name", [
    (lambda run: ms.save("model.pt"), "ms.save"),
    (lambda run: run.save("model.pt"), "run.save"),
    (lambda run: ms.Artifact("data", type="dataset"), "ms.Artifact"),
    (lambda run: ms.log_artifact("x"), "ms.log_artifact"),
    (lambda run: run.log_artifact("x"), "run.log_artifact"),
    (lambda run: ms.use_artifact("x:latest"), "ms.use_artifact"),
    (lambda run: run.use_artifact("x:latest"), "run.use_artifact"),
    (lambda run: ms.alert(title="t", text="x"), "ms.alert"),
    (lambda run: run.alert(title="t", text="x"), "run.alert"),
    (lambda run: ms.plot.visualize("wandb/line/v0", None), "ms.plot.visualize"),
    (lambda run: run.log_code("."), "run.log_code"),
    (lambda run: run.dir, "run.dir"),
    (lambda run: ms.sweep({"method": "grid"}, project="p"), "ms.sweep"),
    (lambda run: ms.agent("sweep-id", function=print, count=2), "ms.agent"),
    (lambda run: ms.controller("sweep-id"), "ms.controller"),
    (lambda run: ms.Classes([{"id": 1, "name": "cat"}]), "ms.Classes"),
    (lambda run: ms.ArtifactTTL(), "ms.ArtifactTTL"),
    (lambda run: ms.Plotly(object()), "ms.Plotly"),
    (lambda run: ms.Graph(), "ms.Graph"),
    (lambda run: ms.restore("model.h5"), "ms.restore"),
    (lambda run: ms.log_model("model.pt", name="m"), "ms.log_model"),
    (lambda run: ms.use_model("m:latest"), "ms.use_model"),
    (lambda run: ms.link_model("model.pt", "registry/m"), "ms.link_model"),
])
def test_what_is_not_offered_raises_not_implemented_with_the_nearest_way(tmp_path, call, name):
    with ms.init(project="p", store=tmp_path) as run:
        with pytest.raises(NotImplementedError, match=rf"^{name}: .*\(README: Porting from W&B\)$"):
            call(run)


def test_a_property_that_is_not_offered_is_no_attribute_to_introspection(tmp_path):
    with ms.init(project="p", store=tmp_path) as run:
        assert not hasattr(run, "dir")  # hasattr, IPython's completion, inspect.getmembers see nothing
        with pytest.raises(NotImplementedError, match=r"^run.dir: files are not uploaded"):
            run.dir


def test_a_plotly_figure_logged_names_the_nearest_way_which_works(tmp_path):
    go = pytest.importorskip("plotly.graph_objects", reason="needs plotly (the dev extra)")
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]))
    with ms.init(project="p", store=tmp_path, run_id="r") as run:
        with pytest.raises(NotImplementedError, match=r"^run.log of a Plotly Figure under 'chart': .*log ms.Html\(fig.to_html\(\)\)"):
            run.log({"chart": figure, "loss": 1.0})
        run.log({"chart": ms.Html(figure.to_html(include_plotlyjs="cdn"))})  # the way it names
    store = ms.open(tmp_path)
    assert store.sql("SELECT key, step FROM html").fetchall() == [("chart", 0)]  # the refused call stored nothing
    assert store.history("r").empty
