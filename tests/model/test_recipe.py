"""model/recipe.py: which loss terms a TrainConfig turns on, how they are weighted, where their gradients go.

Tiny untrained networks; the generator's inputs are read with a forward pre-hook (as tests/model/test_vcn.py)."""

import copy

import pytest
import torch
from torch import nn

from model.capsules import mask_to_states, partner_matrix, targets_to_mask
from model.config import TrainConfig, VCNConfig
from model.losses import attribute_judge_loss, capsule_choice_loss, reconstruction_loss
from model.networks import MultiScaleDiscriminator
from model.recipe import Batch, VCNObjective, donor_rows, flip_with_prior, swapped_slots
from model.vcn import VCN

ML = VCNConfig(arch="compact", capsule_names=("a", "b", "c"), image_size=16, width=8, capsule_dim=4, context_dim=2)
MC = VCNConfig(arch="mnist", kind="multiclass", capsule_names=("0", "1", "2"), image_size=28, channels=1,
               capsule_dim=4, context_dim=0, width=2, dataset="mnist")
# Distinct weights so that a term counted with the wrong weight (or twice) changes the total.
WEIGHTS = dict(recon_weight=0.5, context_kl_weight=2.0, swap_weight=3.0, mmd_weight=5.0, judge_weight=7.0,
               adv_weight=11.0, donor_weight=13.0, choice_weight=17.0, edge_weight=19.0)


def _model(cfg: VCNConfig = ML) -> VCN:
    torch.manual_seed(0)
    return VCN(cfg).train()


def _batch(cfg: VCNConfig = ML, n: int = 4, pairs: bool = False, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    shape = (n, cfg.channels, cfg.image_size, cfg.image_size)
    if cfg.kind == "multiclass":
        return Batch(torch.rand(shape, generator=g), torch.randint(cfg.num_names, (n,), generator=g))
    targets = torch.randint(0, 2, (n, cfg.num_names), generator=g)
    if not pairs:
        return Batch(torch.rand(shape, generator=g), targets)
    targets_cf = targets.clone()
    which = torch.arange(n) % cfg.num_names  # one attribute flipped per pair
    targets_cf[torch.arange(n), which] = 1 - targets_cf[torch.arange(n), which]
    return Batch(torch.rand(shape, generator=g), targets, torch.rand(shape, generator=g), targets_cf)


def _judge(cfg: VCNConfig = ML) -> nn.Module:
    """Any module mapping images to (B, A) logits will do."""
    torch.manual_seed(5)
    return nn.Sequential(nn.Flatten(), nn.Linear(cfg.channels * cfg.image_size**2, cfg.num_names))


def _run(obj: VCNObjective, batch: Batch, seed: int = 3) -> dict[str, torch.Tensor]:
    return obj(batch, torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------------
# Which terms, and the total


CASES = [
    # (cfg, TrainConfig overrides, pairs, judge, discriminator, extra terms expected)
    (ML, {}, False, False, False, set()),
    (ML, {"swap_weight": 3.0}, True, False, False, {"swap"}),
    (ML, {"swap_weight": 3.0}, False, False, False, set()),  # no pairs in the batch: no swap
    (ML, {"swap_weight": 0.0}, True, False, False, set()),  # pairs but the lever is off
    (ML, {"donor_weight": 13.0}, True, False, False, {"donor"}),
    (ML, {"donor_weight": 13.0}, False, False, False, set()),  # donors come from pairs only
    (ML, {"mmd_weight": 5.0}, False, False, False, {"mmd"}),
    (ML, {"judge_weight": 7.0}, False, True, False, {"judge"}),
    (ML, {"judge_weight": 0.0}, False, True, False, set()),  # a judge but weight 0
    (ML, {"judge_weight": 7.0}, False, False, False, set()),  # weight but no judge
    (ML, {"adv_weight": 11.0}, False, False, True, {"adv"}),
    (ML, {"swap_weight": 3.0, "mmd_weight": 5.0, "judge_weight": 7.0, "adv_weight": 11.0}, True, True, True,
     {"swap", "mmd", "judge", "adv"}),
    (MC, {"mmd_weight": 5.0}, False, False, False, {"mmd"}),
    (ML, {"choice_weight": 17.0}, False, False, False, {"choice"}),
    (MC, {"choice_weight": 17.0}, False, False, False, {"choice"}),
    (ML, {"edge_weight": 19.0}, False, False, False, {"edge"}),
    (MC, {"edge_weight": 19.0}, True, False, False, {"edge"}),
    (MC, {"judge_weight": 7.0}, False, True, False, set()),  # prior edits are multilabel only
    (MC, {"adv_weight": 11.0}, False, False, True, {"adv"}),
]


@pytest.mark.parametrize(("cfg", "over", "pairs", "with_judge", "with_disc", "extra"), CASES)
def test_terms_follow_train_config(cfg, over, pairs, with_judge, with_disc, extra):
    tcfg = TrainConfig(recon_weight=0.5, context_kl_weight=2.0, **over)
    judge = _judge(cfg) if with_judge else None
    disc = MultiScaleDiscriminator(cfg) if with_disc else None
    losses = _run(VCNObjective(_model(cfg), tcfg, judge, disc), _batch(cfg, pairs=pairs))

    assert set(losses) == {"margin", "recon", "ctx_kl", "total"} | extra
    expected = losses["margin"] + 0.5 * losses["recon"] + 2.0 * losses["ctx_kl"]
    for name in extra:
        expected = expected + WEIGHTS[f"{name}_weight"] * losses[name]
    assert torch.allclose(losses["total"], expected, rtol=1e-5)
    for name, value in losses.items():
        assert value.shape == () and torch.isfinite(value), name


def test_judge_term_is_what_the_judge_reads_of_the_prior_edits():
    model, judge = _model(), _judge()
    obj = VCNObjective(model, TrainConfig(judge_weight=1.0), judge)
    made = []
    real_prior_edits = obj._prior_edits
    obj._prior_edits = lambda *a: made.append(real_prior_edits(*a)) or made[-1]
    seen = []
    hook = judge.register_forward_hook(lambda _m, args, out: seen.append((args[0].detach(), out.detach())))
    losses = _run(obj, _batch(n=6))
    hook.remove()
    (fakes, states), = made
    (judged, logits), = seen
    assert fakes.shape == (6, 3, 16, 16) and states.shape == (6, 3)
    assert torch.equal(judged, fakes.detach())
    assert torch.allclose(losses["judge"], attribute_judge_loss(logits, states), rtol=1e-6)
    # The edits and the prior samples are also what the sample grids / discriminator get.
    assert torch.equal(obj.last_fakes[-6:], fakes.detach())


def test_judge_gradient_reaches_the_generator_only():
    model, judge = _model(), _judge()
    judge_before = copy.deepcopy(judge.state_dict())
    obj = VCNObjective(model, TrainConfig(judge_weight=1.0), judge)
    assert all(not p.requires_grad for p in judge.parameters())
    assert list(obj.parameters()) == list(model.parameters())  # the judge is not trained through this module

    losses = _run(obj, _batch())
    losses["judge"].backward()  # the judge term alone
    enc = [p.grad for p in model.encoder.parameters()]
    gen = [p.grad for p in model.generator.parameters()]
    assert all(g is None or not g.any() for g in enc), "capsules must be detached before the prior edits"
    assert any(g is not None and g.abs().sum() > 0 for g in gen)
    assert all(p.grad is None and not p.requires_grad for p in judge.parameters())
    assert all(torch.equal(judge.state_dict()[k], v) for k, v in judge_before.items())


def test_judge_weight_changes_generator_gradients_not_encoder_gradients():
    base, judge = _model(), _judge()
    grads = {}
    for w in (0.0, 1.0):
        model = copy.deepcopy(base)
        losses = _run(VCNObjective(model, TrainConfig(judge_weight=w), judge), _batch())
        losses["total"].backward()
        grads[w] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    enc = [n for n in grads[0.0] if n.startswith("encoder.")]
    gen = [n for n in grads[1.0] if n.startswith("generator.")]
    assert enc and gen
    assert all(torch.allclose(grads[0.0][n], grads[1.0][n], rtol=1e-6, atol=1e-7) for n in enc)
    assert any(n not in grads[0.0] or not torch.allclose(grads[0.0][n], grads[1.0][n]) for n in gen)
    assert all(p.grad is None for p in judge.parameters())


# ----------------------------------------------------------------------------------------------------
# Counterfactual swap


def test_swap_of_identical_pair_is_the_plain_reconstruction():
    """x' == x with the same targets: nothing changes hands, so the cross-decode is the ordinary decode."""
    b = _batch()
    same = Batch(b.x, b.targets, b.x.clone(), b.targets.clone())
    losses = _run(VCNObjective(_model(), TrainConfig(swap_weight=1.0)), same)
    assert torch.allclose(losses["swap"], losses["recon"], rtol=1e-6)


def test_swap_cross_decodes_the_flipped_pairs():
    model = _model()
    b = _batch(n=3, pairs=True)
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    hook = model.generator.register_forward_hook(
        lambda _m, args, out: calls.append((args[0].detach(), args[1].detach(), out.detach())))
    losses = _run(VCNObjective(model, TrainConfig(swap_weight=1.0)), b)
    hook.remove()
    assert len(calls) == 2  # the reconstruction of [x; x'], then the swap decode
    (caps, ctx, _), (mixed, mixed_ctx, out) = calls
    n = 3
    mask_x = targets_to_mask(b.targets, "multilabel", 6)
    mask_cf = targets_to_mask(b.targets_cf, "multilabel", 6)
    changed = (mask_x != mask_cf).unsqueeze(-1)
    assert changed.squeeze(-1).sum(1).tolist() == [2, 2, 2]  # one pair per row
    # First half: x's capsules and context, the flipped pair from x'; it must look like x'.
    assert torch.equal(mixed[:n], torch.where(changed, caps[n:], caps[:n]))
    assert torch.equal(mixed[n:], torch.where(changed, caps[:n], caps[n:]))
    assert torch.equal(mixed_ctx, ctx)
    expected = reconstruction_loss(out, torch.cat([b.x_cf, b.x]), "mse", "sum")
    assert torch.allclose(losses["swap"], expected, rtol=1e-6)


def test_swapped_slots_add_the_named_pair_to_the_state_changes():
    mask = torch.tensor([[1.0, 0, 0, 1, 1, 0], [1.0, 0, 0, 1, 1, 0]])
    flipped = torch.tensor([[0.0, 1, 0, 1, 1, 0], [1.0, 0, 0, 1, 1, 0]])  # row 0: attribute 0 flipped
    assert swapped_slots(mask, flipped, None).tolist() == [[True, True] + [False] * 4, [False] * 6]
    both = swapped_slots(mask, flipped, torch.tensor([0, 2]))  # row 1: attribute 2 restyled, same state
    assert both.tolist() == [[True, True] + [False] * 4, [False] * 4 + [True, True]]


def test_swap_of_a_restyled_pair_exchanges_that_attributes_capsules():
    """A style pair keeps every state: without `changed` nothing changes hands (the swap decode is the plain
    decode of the pair's other face); with it, the named pair is exchanged and the loss differs."""
    b = _batch(n=3)
    pair = Batch(b.x, b.targets, torch.rand(b.x.shape, generator=torch.Generator().manual_seed(9)),
                 b.targets.clone())
    obj = VCNObjective(_model(), TrainConfig(swap_weight=1.0))
    blind = _run(obj, pair)
    named = _run(obj, Batch(pair.x, pair.targets, pair.x_cf, pair.targets_cf, torch.tensor([0, 1, 2])))
    assert torch.allclose(blind["recon"], named["recon"])
    assert not torch.allclose(blind["swap"], named["swap"])


def test_donor_rows_match_the_target_state_on_the_swapped_slots_and_skip_the_pair_itself():
    # Two pairs [x0, x1, x0', x1']; both flip attribute 0, attribute 1 is on everywhere.
    mask = torch.tensor([[1.0, 0, 1, 0], [0.0, 1, 1, 0], [0.0, 1, 1, 0], [1.0, 0, 1, 0]])
    target, slots = mask[2:], torch.tensor([[True, True, False, False]] * 2)
    every = torch.tensor([True, True])
    assert donor_rows(mask, target, slots, every).tolist() == [1, 0]  # the other pair's face in that state
    assert donor_rows(mask, target, slots, torch.tensor([True, False])).tolist() == [1, -1]
    # Pair 0 switches attribute 0 off, pair 1 attribute 1 off: no other face is in either new state.
    lonely = torch.tensor([[1.0, 0, 1, 0], [1.0, 0, 1, 0], [0.0, 1, 1, 0], [1.0, 0, 0, 1]])
    own_slots = torch.tensor([[True, True, False, False], [False, False, True, True]])
    assert donor_rows(lonely, lonely[2:], own_slots, every).tolist() == [-1, -1]
    # Unswapped slots do not have to match, and a donor is drawn at random among the matches.
    xs = torch.tensor([[1.0, 0, 1, 0], [0.0, 1, 0, 1], [1.0, 0, 0, 1], [0.0, 1, 1, 0]])
    many = torch.cat([xs, xs[:, [1, 0, 2, 3]]])  # four pairs, each flipping attribute 0
    picks = {int(donor_rows(many, many[4:], slots.repeat(2, 1), every.repeat(2), torch.Generator().manual_seed(s))[0])
             for s in range(30)}
    assert picks == {1, 3, 6}  # row 0 needs attribute 0 off: x1, x3, x2' (x0' is its own pair)


def test_donor_swap_keeps_style_attributes_switched_on_with_their_own_capsule():
    cfg = VCNConfig(arch="compact", capsule_names=("Eyeglasses", "Male"), image_size=16, width=8, capsule_dim=4)
    obj = VCNObjective(_model(cfg), TrainConfig(swap_weight=1.0, donor_weight=1.0))
    assert obj.style_slots.tolist() == [True, False, False, False]
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    on = Batch(x[:2], torch.tensor([[0, 1], [0, 0]]), x[2:], torch.tensor([[1, 1], [1, 0]]))  # glasses on
    assert float(_run(obj, on)["donor"].detach()) == 0.0  # no donor may bring its glasses' style
    off = Batch(x[:2], torch.tensor([[1, 1], [1, 0]]), x[2:], torch.tensor([[0, 1], [0, 0]]))  # glasses off
    assert float(_run(obj, off)["donor"].detach()) > 0.0


def test_judge_reads_augmented_fakes_when_asked_and_still_trains_the_generator_only():
    model, judge = _model(), _judge()
    obj = VCNObjective(model, TrainConfig(judge_weight=1.0, judge_augment=True), judge)
    seen = []
    hook = judge.register_forward_hook(lambda _m, args, out: seen.append(args[0].detach()))
    losses = _run(obj, _batch(n=6))
    hook.remove()
    (judged,) = seen
    fakes = obj.last_fakes[-6:]  # after the 6 reconstructions
    assert judged.shape == fakes.shape and not torch.equal(judged, fakes)
    losses["judge"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())


# ----------------------------------------------------------------------------------------------------
# Prior edits


def test_flip_with_prior_flips_one_pair_and_puts_the_noise_in_the_new_slot():
    g = torch.Generator().manual_seed(0)
    b, a, d = 8, 5, 4
    c = torch.randn((b, 2 * a, d), generator=g)
    mask = targets_to_mask(torch.randint(0, 2, (b, a), generator=g), "multilabel", 2 * a)
    noise = torch.randn((b, 2 * a, d), generator=g)
    which = torch.randint(a, (b,), generator=g)
    c0, m0 = c.clone(), mask.clone()

    c2, m2 = flip_with_prior(c, mask, noise, which)
    assert torch.equal(c, c0) and torch.equal(mask, m0)  # inputs untouched
    assert ((m2 != mask).sum(1) == 2).all()  # exactly one pair per row changed
    states, states2 = mask_to_states(mask, "multilabel"), mask_to_states(m2, "multilabel")
    for i in range(b):
        w = int(which[i])
        assert (states2[i] != states[i]).nonzero().flatten().tolist() == [w]
        new = 2 * w if states[i, w] == 0 else 2 * w + 1
        assert m2[i, new] == 1 and m2[i, new ^ 1] == 0
        assert torch.equal(c2[i, new], noise[i, new])
        others = [k for k in range(2 * a) if k != new]
        assert torch.equal(c2[i, others], c[i, others])
    assert ((m2.unflatten(-1, (-1, 2)).sum(-1)) == 1).all()  # still one active capsule per pair


def test_flip_with_prior_switches_off_the_partners_of_an_attribute_it_switches_on():
    # attributes 0 and 1 exclude each other; row 0 has 1 on and flips 0 on, row 1 has 0 on and flips it off
    partners = partner_matrix(("a", "b", "c"), [("a", "b")])
    states = torch.tensor([[0, 1, 1], [1, 0, 0]])
    mask = targets_to_mask(states, "multilabel", 6)
    c, noise = torch.zeros(2, 6, 3), torch.ones(2, 6, 3)
    c2, m2 = flip_with_prior(c, mask, noise, torch.tensor([0, 0]), partners)
    assert mask_to_states(m2, "multilabel").tolist() == [[1, 0, 1], [0, 0, 0]]
    # newly active: row 0 "a present" (slot 0) and "b absent" (slot 3); row 1 "a absent" (slot 1)
    assert c2[0, [0, 3]].eq(1).all() and c2[0, [1, 2, 4, 5]].eq(0).all()
    assert c2[1, 1].eq(1).all() and c2[1, [0, 2, 3, 4, 5]].eq(0).all()


def test_prior_edits_ask_for_one_flip_then_the_batch_states():
    model = _model()
    obj = VCNObjective(model, TrainConfig(judge_weight=1.0), _judge())
    b = _batch(n=6)
    mask = targets_to_mask(b.targets, "multilabel", 6)
    c, ctx = torch.randn(6, 6, 4), torch.randn(6, 2)
    images, states = obj._prior_edits(c, ctx, mask, torch.Generator().manual_seed(0))
    assert images.shape == (6, 3, 16, 16) and states.shape == (6, 3)
    assert ((states[:3] != b.targets[:3]).sum(1) == 1).all()
    assert torch.equal(states[3:], b.targets[3:].float())


def test_judge_eval_norm_decodes_the_judges_fakes_as_served_and_still_trains_the_generator():
    b = _batch(n=6)
    mask = targets_to_mask(b.targets, "multilabel", 6)
    c, ctx = torch.randn(6, 6, 4), torch.randn(6, 2)
    images = {}
    for on in (False, True):
        model = _model()
        obj = VCNObjective(model, TrainConfig(judge_weight=1.0, judge_eval_norm=on), _judge())
        norms = [m for m in model.generator.modules() if isinstance(m, nn.BatchNorm2d)]
        before = [m.running_mean.clone() for m in norms]
        images[on], _ = obj._prior_edits(c, ctx, mask, torch.Generator().manual_seed(0))
        moved = any(not torch.equal(m.running_mean, r) for m, r in zip(norms, before, strict=True))
        assert moved != on  # batch statistics update the running ones; the served normalisation leaves them
        assert model.generator.training and all(m.training for m in norms)  # back in training mode after
        images[on].sum().backward()
        assert all(p.grad is not None for p in model.generator.parameters() if p.requires_grad)
    # The same draws decoded as the server decodes them (running statistics: still the initial ones).
    served = _model().eval()
    obj = VCNObjective(served, TrainConfig(judge_weight=1.0), _judge())
    expected, _ = obj._prior_edits(c, ctx, mask, torch.Generator().manual_seed(0))
    assert torch.allclose(images[True], expected, atol=1e-6)
    assert not torch.allclose(images[False], expected, atol=1e-3)


def test_without_teacher_forcing_the_generator_sees_the_predicted_mask():
    """teacher_forcing=False: the decoder gets the KL-predicted mask, the margin loss still the truth."""
    import dataclasses

    from model.capsules import active_mask, targets_to_mask
    from model.config import TrainConfig, VCNConfig
    from model.recipe import Batch, VCNObjective
    from model.vcn import VCN

    cfg = VCNConfig(arch="compact", capsule_names=("a", "b", "c"), image_size=16, width=8, capsule_dim=4,
                    context_dim=2, mask_input=True)  # so the generator's third input is the mask itself
    torch.manual_seed(0)
    model = VCN(cfg).eval()  # eval: BatchNorm statistics, hence the predicted mask, stay fixed
    x = torch.rand(4, 3, 16, 16)
    targets = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    seen = []
    model.generator.register_forward_pre_hook(lambda mod, args: seen.append(args[2].clone()))
    for forcing in (True, False):
        seen.clear()
        objective = VCNObjective(model, dataclasses.replace(TrainConfig(), teacher_forcing=forcing))
        objective(Batch(x, targets), torch.Generator().manual_seed(0))
        expected = (targets_to_mask(targets, "multilabel", 6) if forcing
                    else active_mask(model.encode(x).kl.detach(), "multilabel"))
        assert torch.equal(seen[0], expected)


class _TwoStages(nn.Module):
    """A stand-in perceptual network: two 'stages' of one conv, remembering what it read."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.reads: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.reads.append(x.detach())
        h = self.conv(x)
        return [h, h.relu()]


def test_perceptual_term_compares_each_reconstruction_with_its_image():
    """The frozen network reads the batch and the reconstructions; the term is perceptual_loss of the two
    readings, weighted into the total, and no gradient reaches the network."""
    from model.losses import perceptual_loss

    net, model, batch = _TwoStages(), _model(), _batch()
    obj = VCNObjective(model, TrainConfig(recon_weight=0.5, context_kl_weight=2.0, perceptual_weight=17.0),
                       perceptual=net)
    losses = _run(obj, batch)
    real, recon = net.reads
    assert torch.equal(real, batch.x)
    assert torch.allclose(losses["perceptual"], perceptual_loss(net(recon), net(real)), rtol=1e-6)
    expected = losses["margin"] + 0.5 * losses["recon"] + 2.0 * losses["ctx_kl"] + 17.0 * losses["perceptual"]
    assert torch.allclose(losses["total"], expected, rtol=1e-5)
    losses["perceptual"].backward()
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    # Weight 0: the term is not computed at all.
    assert "perceptual" not in _run(VCNObjective(_model(), TrainConfig(), perceptual=net), batch)


class _StyleReader(nn.Module):
    """A stand-in style reader: logits for every style attribute of the renderer, remembering what it read."""

    def __init__(self, size: int):
        super().__init__()
        from model.data.faces_attributes import STYLE_COUNTS

        torch.manual_seed(7)
        self.heads = nn.ModuleList(nn.Linear(3 * size * size, k) for k in STYLE_COUNTS.values())
        self.reads: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.reads.append(x.detach())
        return [head(x.flatten(1)) for head in self.heads]


def test_style_term_reads_the_heads_of_the_models_style_attributes():
    """The reader reads the batch and the reconstructions; the term compares the heads of the model's own
    style attributes (Bangs, Eyeglasses: not Male, which has none) where the targets say they show, is
    weighted into the total, and its gradient reaches the generator, never the reader."""
    from model.data.faces_attributes import STYLE_ATTRIBUTES
    from model.losses import style_judge_loss

    cfg = VCNConfig(arch="compact", capsule_names=("Eyeglasses", "Male", "Bangs"), image_size=16, width=8,
                    capsule_dim=4, context_dim=2)
    net, model, batch = _StyleReader(16), _model(cfg), _batch(cfg, n=6)
    obj = VCNObjective(model, TrainConfig(recon_weight=0.5, context_kl_weight=2.0, style_weight=19.0), style=net)
    assert obj.style_columns == [2, 0]  # the model's columns of Bangs and Eyeglasses, in the reader's order
    assert obj.style_heads == [STYLE_ATTRIBUTES.index(n) for n in ("Bangs", "Eyeglasses")]
    losses = _run(obj, batch)
    real, recon = net.reads
    assert torch.equal(real, batch.x)
    heads = obj.style_heads
    expected_style = style_judge_loss([net(recon)[i] for i in heads], [net(real)[i] for i in heads],
                                      batch.targets[:, [2, 0]].bool())
    assert torch.allclose(losses["style"], expected_style, rtol=1e-6) and losses["style"] > 0
    expected = losses["margin"] + 0.5 * losses["recon"] + 2.0 * losses["ctx_kl"] + 19.0 * losses["style"]
    assert torch.allclose(losses["total"], expected, rtol=1e-5)
    losses["style"].backward()
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    # With counterfactual pairs and the swap, the swaps are read too, against the faces they must become.
    net.reads.clear()
    pairs = _batch(cfg, n=3, pairs=True)
    losses = _run(VCNObjective(_model(cfg), TrainConfig(swap_weight=1.0, style_weight=1.0), style=net), pairs)
    real, fake = net.reads
    x, x_cf = pairs.x, pairs.x_cf
    assert torch.equal(real, torch.cat([x, x_cf])) and fake.shape == (4 * 3, *x.shape[1:])  # real faces read once
    wanted = torch.cat([x, x_cf, x_cf, x])  # [recon of x; recon of x'; swaps that must become x'; and x]
    targets = torch.cat([pairs.targets, pairs.targets_cf, pairs.targets_cf, pairs.targets])[:, [2, 0]].bool()
    assert torch.allclose(losses["style"], style_judge_loss([net(fake)[i] for i in heads],
                                                            [net(wanted)[i] for i in heads], targets), rtol=1e-6)
    # Weight 0, or a model without style attributes: the term is not computed.
    assert "style" not in _run(VCNObjective(_model(cfg), TrainConfig(), style=net), batch)
    assert "style" not in _run(VCNObjective(_model(), TrainConfig(style_weight=1.0), style=net), _batch())


def test_style_augment_shows_the_reader_the_generated_images_through_the_judges_view():
    """--style-augment: the generated images the style reader reads are judge_view's of them (shifted, brightened,
    noisy), the real ones it must match are read clean, and the term's gradient still reaches the generator."""
    cfg = VCNConfig(arch="compact", capsule_names=("Eyeglasses", "Male", "Bangs"), image_size=16, width=8,
                    capsule_dim=4, context_dim=2)
    batch = _batch(cfg, n=6)
    reads = {}
    for augment in (False, True):
        net, model = _StyleReader(16), _model(cfg)  # the same seeded weights each time
        losses = _run(VCNObjective(model, TrainConfig(style_weight=1.0, style_augment=augment), style=net), batch)
        reads[augment] = net.reads
        if augment:
            losses["style"].backward()
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    (real, plain), (real_seen, seen) = reads[False], reads[True]
    assert torch.equal(real, batch.x) and torch.equal(real_seen, batch.x)  # the real faces: clean
    assert seen.shape == plain.shape and 0.0 <= seen.min() and seen.max() <= 1.0
    assert (seen - plain).abs().mean() > 1e-3  # the reconstructions: through another view


@pytest.mark.parametrize(("cfg", "group"), [(ML, 2), (MC, 3)])
def test_choice_term_groups_pairs_for_attributes_and_all_capsules_for_digits(cfg, group):
    model, batch = _model(cfg), _batch(cfg)
    losses = _run(VCNObjective(model, TrainConfig(choice_weight=1.0, choice_temperature=4.0)), batch)
    caps = model.encode(batch.x)
    truth = targets_to_mask(batch.targets, cfg.kind, cfg.num_capsules)
    assert torch.allclose(losses["choice"], capsule_choice_loss(caps.kl, truth, group, 4.0), rtol=1e-5)
