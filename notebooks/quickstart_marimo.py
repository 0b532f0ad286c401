# alwidget in marimo: label digits while a model learns.
#
#     marimo edit notebooks/quickstart_marimo.py     (or: marimo run ...)
#
# The widget is one anywidget plus a plotly figure, so marimo shows it as it is: the last
# expression of a cell is enough (LabelingWidget has marimo's display protocol, ``_display_``).
# To place the two parts yourself: ``mo.vstack([mo.ui.anywidget(w.board), w.plots])``.
# ALWIDGET_NB_SMALL=1 shrinks the settings for automated runs (tests/browser/test_marimo.py).

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import os

    SMALL = os.environ.get("ALWIDGET_NB_SMALL", "0") not in ("", "0")  # tiny settings for automated runs
    POOL_SIZE = 300 if SMALL else None  # images to label from; None = all 1,348 training digits
    TRAIN = {"max_steps": 100} if SMALL else {}  # training settings of each cycle ({} = the defaults)
    REPR = {"steps": 30} if SMALL else None  # self-supervised steps of the representation (None = the default)
    CACHE = os.environ.get("ALWIDGET_NB_CACHE", "quickstart_cache")  # the representation is kept here
    STORE = os.environ.get("ALWIDGET_NB_STORE", "quickstart_marimo_labels.db")  # labels are saved here
    return CACHE, POOL_SIZE, REPR, STORE, TRAIN


@app.cell
def _(CACHE, POOL_SIZE, REPR, STORE, TRAIN):
    from alwidget import ActiveLearner, LabelingWidget, datasets

    digits = datasets.digits()
    test, pool = digits.split(0.25, seed=0)
    if POOL_SIZE:
        pool = pool.subset(pool.ids[:POOL_SIZE])
    # the digits' known answers label the validation set (simulate=True); you label the rest
    learner = ActiveLearner(pool, store=STORE, train=TRAIN, seed=0, cache_dir=CACHE, representation_config=REPR)
    w = LabelingWidget(learner, k=12, simulate=True)
    w
    return learner, test, w


@app.cell
def _(mo):
    mo.md(r"""
    Click a class under an image, or click a card and press its number key; **Enter**
    submits the batch and the model retrains in the background. The grid, the status line
    and both plots refresh when the cycle ends. `?` lists every key.
    """)
    return


@app.cell
def _():
    import marimo as mo

    return (mo,)


if __name__ == "__main__":
    app.run()
