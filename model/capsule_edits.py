"""How VCN changes capsules: names to capsule slots, new capsules drawn, attributes switched, styles redrawn.

The operations in model/vcn.py (edit, resample, swap, interpolate, sample) decide *what* to change; this
mixin holds *how* a capsule is changed, so vcn.py stays the network and its operations read top to bottom.

- A capsule the image never had is drawn from the capsule bank (the aggregate posterior, cfg.bank_size > 0
  and capsule_source "bank"; model/bank.py) or the prior N(0, I).
- With transfer maps (cfg.transfer_maps, model/transfer.py) it is predicted from the face's own capsules
  instead, so the face keeps its background and pose (measured in docs/recipes.md).

Every random draw comes from Draws (model/seeds.py): CPU generators seeded by the caller, one per image when
the caller gives one seed per image, and every stream is consumed whether or not its draw is used, so a result
depends only on the seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from model.capsules import partner_matrix, transfer_features
from model.config import VCNConfig
from model.seeds import Draws, generators, normal, uniform

# n resamples of one face take their styles from this many clusters of the transfer fit's residuals in turn
# (CapsuleEdits._style_residual): 10 resamples then show more distinct styles than 10 independent draws.
STYLE_CLUSTERS = 10


def residual_clusters(residuals: Tensor, k: int = STYLE_CLUSTERS, iters: int = 20, seed: int = 0) -> Tensor:
    """(K, T, D) residuals (or what a reader sees them draw, model/style_clusters.py) -> (K, T) long: each
    residual's cluster among k, by k-means per slot (Euclidean, started from k residuals picked with a fixed seed,
    so the same file always gives the same clusters; k-means++ starts found outlying clusters whose styles the
    resampled faces showed less often, docs/recipes.md)."""
    x = residuals.detach().float().cpu()
    n_slots, t, _ = x.shape
    g = torch.Generator().manual_seed(seed)
    centres = torch.stack([x[i, torch.randperm(t, generator=g)[:k]] for i in range(n_slots)])  # (K, k, D)
    for _ in range(iters):
        nearest = torch.cdist(x, centres).argmin(-1)  # (K, T)
        members = torch.nn.functional.one_hot(nearest, centres.shape[1]).float()  # (K, T, k)
        counts = members.sum(1).unsqueeze(-1)  # (K, k, 1)
        centres = torch.where(counts > 0, members.transpose(1, 2) @ x / counts.clamp(min=1), centres)
    return torch.cdist(x, centres).argmin(-1)


def _runs(clusters: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(K, T) cluster ids (STYLE_CLUSTERS: in none) -> count (K, C) members of each cluster, first (K, C) where its run
    starts in order, order (K, T) the indices sorted by cluster (stable)."""
    count = torch.nn.functional.one_hot(clusters, STYLE_CLUSTERS + 1).sum(1)
    first = count.cumsum(1) - count
    return count[:, :STYLE_CLUSTERS], first[:, :STYLE_CLUSTERS], clusters.argsort(dim=1, stable=True)


class CapsuleEdits:
    """Mixed into VCN, whose config and buffers it reads: bank (K, M, D), bank_count (K,), ctx_bank (M, Dc),
    transfer_weight (K, F, D), transfer_residual (K, T, D), style_cluster (K, T) (empty when the checkpoint has
    none)."""

    cfg: VCNConfig
    capsule_source: str
    bank: Tensor
    bank_count: Tensor
    ctx_bank: Tensor
    transfer_weight: Tensor
    transfer_residual: Tensor
    style_cluster: Tensor
    device: torch.device

    # ------------------------------------------------------------------------------------------------
    # Names and draws

    @property
    def partners(self) -> Tensor:
        """(A, A) bool: attribute pairs that exclude each other (cfg.exclusive; all False if none)."""
        return partner_matrix(self.cfg.capsule_names, self.cfg.exclusive)

    def index(self, name: str) -> int:
        """Position of an attribute (or class) name; KeyError naming the valid ones otherwise."""
        try:
            return self.cfg.capsule_names.index(name)
        except ValueError:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(self.cfg.capsule_names)}") from None

    def slot(self, name: str, present: bool = True) -> int:
        """Capsule index of a name's present (or, multilabel only, absent) capsule."""
        a = self.index(name)
        if self.cfg.kind == "multiclass":
            return a
        return 2 * a if present else 2 * a + 1

    def prior(self, shape: Sequence[int], seed: int | Draws) -> Tensor:
        """Standard normal draws of the given shape on the model's device, from CPU generators (model/seeds.py)."""
        return normal(shape, generators(seed)).to(self.device)

    def draw(self, slots: Tensor, g: Draws) -> Tensor:
        """New capsule values for the given capsule indices: (N,) long -> (N, D), from the bank when there
        is one and capsule_source is "bank" (slots with an empty bank fall back to the prior), else from
        N(0, I). Both random streams are always consumed, so results depend only on the seed."""
        noise = self.prior((slots.shape[0], self.cfg.capsule_dim), g)
        pick = uniform(slots.shape[0], g)
        if self.capsule_source != "bank" or self.bank.numel() == 0:
            return noise
        slots = slots.cpu()
        count = self.bank_count.cpu()[slots]
        idx = (pick * count).long().clamp(min=0, max=self.cfg.bank_size - 1)
        picked = self.bank[slots.to(self.device), idx.to(self.device)]
        return torch.where((count > 0).to(self.device).unsqueeze(-1), picked, noise)

    def draw_context(self, n: int, g: Draws) -> Tensor:
        """(n, Dc) context vectors for new images: from the bank's contexts or the prior, as `draw`."""
        noise = self.prior((n, self.cfg.context_dim), g)
        pick = uniform(n, g)
        if self.capsule_source != "bank" or self.ctx_bank.shape[0] == 0 or self.cfg.context_dim == 0:
            return noise
        return self.ctx_bank[(pick * self.ctx_bank.shape[0]).long().to(self.device)]

    # ------------------------------------------------------------------------------------------------
    # Switching attributes, transfer maps, styles

    def _active_slot(self, mask: Tensor, name: str) -> Tensor:
        """(B,) capsule index currently active for this name (per image)."""
        if self.cfg.kind == "multiclass":
            self.index(name)
            return mask.argmax(dim=-1)
        on = mask[:, self.slot(name, True)] > 0.5
        return torch.where(on, self.slot(name, True), self.slot(name, False))

    def _set_states(self, c: Tensor, mask: Tensor, flags: Mapping[str, bool], g: Draws,
                    resolve_conflicts: bool = True, feats: Tensor | None = None) -> None:
        """In place: apply every name -> on/off in flags, then (resolve_conflicts) switch off the exclusive
        partners of those switched on, unless flags names them too. With feats (transfer_inputs of the face
        before these changes), every capsule switched on is predicted by the transfer maps."""
        for name, on in flags.items():
            self._set_state(c, mask, name, bool(on), g, feats)
        if not resolve_conflicts or self.cfg.kind != "multilabel" or not self.cfg.exclusive:
            return
        for partner in self._partners_to_clear(flags):
            self._set_state(c, mask, partner, False, g, feats)

    def _partners_to_clear(self, flags: Mapping[str, bool]) -> list[str]:
        """The exclusive partners of the names flags switches on that flags does not name itself, in order (a
        partner of two such names comes twice): what resolve_conflicts switches off."""
        partners, names = self.partners, self.cfg.capsule_names
        return [names[p] for name in [n for n, on in flags.items() if on]
                for p in partners[self.index(name)].nonzero().squeeze(1).tolist() if names[p] not in flags]

    def _set_states_per_row(self, c: Tensor, mask: Tensor, flags: Sequence[Mapping[str, bool]], g: Draws,
                            resolve_conflicts: bool = True, feats: Tensor | None = None) -> None:
        """_set_states with its own flags for each row (B mappings): the rows that ask the same (names, states
        and order alike) are switched together, each drawing from its own generator (g: one per row, or one for
        all when every row asks the same), so every row ends as it would alone."""
        groups: dict[tuple[tuple[str, bool], ...], list[int]] = {}
        for i, states in enumerate(flags):
            groups.setdefault(tuple(states.items()), []).append(i)
        if isinstance(g, torch.Generator) and len(groups) > 1:
            raise ValueError("images asking different things need one seed each")
        for ask, rows in groups.items():
            idx = torch.tensor(rows, device=c.device)
            c_rows, mask_rows = c[idx], mask[idx]
            g_rows = g if isinstance(g, torch.Generator) else tuple(g[i] for i in rows)
            feats_rows = None if feats is None else feats[idx]
            self._set_states(c_rows, mask_rows, dict(ask), g_rows, resolve_conflicts, feats_rows)
            c[idx], mask[idx] = c_rows, mask_rows

    def transfer_inputs(self, c: Tensor, mask: Tensor, ctx: Tensor) -> Tensor | None:
        """What the transfer maps read of faces (capsules.transfer_features), or None without maps."""
        return transfer_features(c, mask, ctx) if self.cfg.transfer_maps else None

    def mapped(self, slots: Tensor) -> Tensor:
        """(B,) capsule slots -> (B,) bool: the transfer fit saw this attribute switched both ways (a fit on
        faces that never show it leaves its maps zero; those capsules are drawn as without maps)."""
        slots = slots.to(self.device)
        fitted = self.transfer_weight.flatten(1).any(1)  # (K,)
        return fitted[slots] & fitted[slots ^ 1]

    def transferred(self, slots: Tensor, feats: Tensor, g: Draws | None = None,
                    variety: float = 0.0) -> Tensor:
        """The capsules the transfer maps give capsule slots (B,) of faces with features feats (B, F) ->
        (B, D), plus `variety` times a residual of the fit picked with g (when g is given it is always
        drawn from, so results depend only on the seed)."""
        slots = slots.to(self.device)
        predicted = torch.bmm(feats.unsqueeze(1), self.transfer_weight[slots]).squeeze(1)
        return predicted if g is None else predicted + variety * self._fit_residual(slots, g)

    def _fit_residual(self, slots: Tensor, g: Draws) -> Tensor:
        """(B,) slots -> (B, D): one residual of each slot's transfer fit, picked with g."""
        pick = (uniform(slots.shape[0], g) * self.cfg.transfer_maps).long()
        return self.transfer_residual[slots, pick.clamp(max=self.cfg.transfer_maps - 1).to(self.device)]

    def _style_residual(self, slots: Tensor, g: Draws) -> Tensor:
        """(B,) slots -> (B, D): a residual of each slot's transfer fit, for a new style. Rows that share one
        generator (n resamples of a face: /api/resample, vcn eval's styles) take the fit's residual clusters
        (residual_clusters, or the file's style_cluster) in turn from a drawn start, a residual drawn within each, so
        up to STYLE_CLUSTERS of them come from as many clusters: more distinct styles than as many independent draws
        (docs/recipes-sessions-11-14.md, sessions 13 and 14). A row with a generator of its own (edits batched by the
        server) draws as it would alone."""
        if self.cfg.transfer_maps < STYLE_CLUSTERS:
            return self._fit_residual(slots, g)
        sizes = torch.full((slots.shape[0],), self.cfg.transfer_maps)
        idx = self._in_turn(slots, g, self._cluster_runs(), sizes)
        return self.transfer_residual[slots.to(self.device), idx.to(self.device)]

    def _style_draw(self, slots: Tensor, g: Draws) -> Tensor:
        """(B,) slots -> (B, D): a new style's capsule for a model without transfer maps: from the capsule bank, taking
        each slot's clusters of banked capsules in turn as _style_residual takes the residuals' (a slot with an empty
        bank, or a model without one, draws from the prior). Both random streams are always consumed."""
        noise = self.prior((slots.shape[0], self.cfg.capsule_dim), g)
        if self.capsule_source != "bank" or self.bank.numel() == 0:
            uniform(slots.shape[0], g), uniform(1 if isinstance(g, torch.Generator) else slots.shape[0], g)
            return noise
        count = self.bank_count.cpu()[slots.cpu()]
        idx = self._in_turn(slots, g, self._bank_runs(), count)
        picked = self.bank[slots.to(self.device), idx.to(self.device)]
        return torch.where((count > 0).to(self.device).unsqueeze(-1), picked, noise)

    def _in_turn(self, slots: Tensor, g: Draws, runs: tuple[Tensor, Tensor, Tensor], sizes: Tensor) -> Tensor:
        """(B,) slots -> (B,) long entries of their clusters (runs: count (K, C), first (K, C), order (K, T) as
        _cluster_runs gives them; sizes (B,): entries each slot has). Rows sharing one generator take clusters in
        turn from a drawn start, an entry drawn within each; an empty cluster gives any of the slot's entries."""
        b = slots.shape[0]
        shared = isinstance(g, torch.Generator)
        pick, start = uniform(b, g), uniform(1 if shared else b, g)
        turn = torch.arange(b) if shared else torch.zeros(b, dtype=torch.long)  # alone, each row is the first
        count, first, order = runs
        s, wanted = slots.cpu(), (turn + (start * STYLE_CLUSTERS).long()) % STYLE_CLUSTERS
        n, t = count[s, wanted], order.shape[1]
        within = order[s, (first[s, wanted] + (pick * n).long().clamp(max=(n - 1).clamp(min=0))).clamp(max=t - 1)]
        return torch.where(n > 0, within, (pick * sizes).long().clamp(min=0).minimum((sizes - 1).clamp(min=0)))

    def _cluster_runs(self) -> tuple[Tensor, Tensor, Tensor]:
        """The transfer fit's residuals by cluster (the file's style_cluster, else residual_clusters), worked out
        once per set of residuals (~0.05 s): count (K, C) members of each cluster, first (K, C) where its run starts
        in order (K, T), the residual indices sorted by cluster."""
        stored = self.cfg.style_clusters == "reader"
        key = tuple((b.data_ptr(), b._version) for b in (self.transfer_residual, self.style_cluster))
        if getattr(self, "_runs_of", None) != key:
            clusters = self.style_cluster.long().cpu() if stored else residual_clusters(self.transfer_residual)
            self._runs, self._runs_of = _runs(clusters), key
        return self._runs

    def _bank_runs(self) -> tuple[Tensor, Tensor, Tensor]:
        """The capsule bank by cluster, as _cluster_runs: each slot's banked capsules (its first bank_count) in
        residual_clusters' k-means clusters, worked out once per bank; the unfilled places sort last, in none."""
        key = (self.bank.data_ptr(), self.bank._version)
        if getattr(self, "_bank_runs_of", None) != key:
            bank, count = self.bank.detach().float().cpu(), self.bank_count.cpu()
            clusters = torch.full(bank.shape[:2], STYLE_CLUSTERS, dtype=torch.long)
            for k in range(bank.shape[0]):
                if count[k] >= STYLE_CLUSTERS:  # fewer capsules than clusters: every draw is any of them
                    clusters[k, : count[k]] = residual_clusters(bank[k : k + 1, : count[k]])[0]
            self._bank_run_cache, self._bank_runs_of = _runs(clusters), key
        return self._bank_run_cache

    def predicted(self, slots: Tensor, feats: Tensor, active: Tensor) -> Tensor:
        """The capsule slots (B,) the maps give faces with features feats (B, F) whose active capsule of that
        attribute is `active` (B,): one hop where the state changes; where it stays, there and back (the
        other state's capsule from the face, then this state's from the face holding that one)."""
        slots = slots.to(self.device)
        other = self.transferred(slots ^ 1, feats)
        cols = (self.cfg.capsule_dim * (slots // 2)).unsqueeze(1) + torch.arange(self.cfg.capsule_dim,
                                                                                 device=self.device)
        there = feats.clone().scatter_(1, cols, other)  # the attribute's block now holds the other state
        same = (slots == active.to(self.device)).unsqueeze(1)
        return self.transferred(slots, torch.where(same, there, feats))

    def restyled(self, old: Tensor, slots: Tensor, feats: Tensor | None, g: Draws,
                 strength: float | None = None) -> Tensor:
        """A new style for the active capsules slots (B,) whose values are old (B, D) -> (B, D).

        With transfer maps: the maps' capsule for the face (there and back) plus a whole residual of the fit,
        which is mostly style, so the face keeps its nuisance (drawing from the bank moved every nuisance
        factor when the capsule was Smiling's, docs/recipes.md). Without maps: a banked capsule, n resamples of
        a face taking the slot's bank clusters in turn (_style_draw), or a prior draw; for an attribute the fit never
        saw switch: a bank or prior draw. Then `strength` (None: cfg.style_strength) times as far from the maps'
        prediction (or the old capsule) as that."""
        push = self.cfg.style_strength if strength is None else float(strength)
        if feats is None:  # no maps: a banked capsule (its slot's clusters in turn) or a prior draw
            return torch.lerp(old, self._style_draw(slots, g), push)
        drawn = self.draw(slots, g)
        mapped = self.mapped(slots).unsqueeze(1)
        pred = self.predicted(slots, feats, slots)
        drawn = torch.where(mapped, pred + self._style_residual(slots.to(self.device), g), drawn)
        return torch.lerp(torch.where(mapped, pred, old), drawn, push)

    def _set_state(self, c: Tensor, mask: Tensor, name: str, on: bool, g: Draws,
                   feats: Tensor | None = None) -> None:
        """In place: make `name` present (on) or absent where it is not; the capsule switched on is drawn
        (bank or prior), or with feats (B, F) predicted by the transfer map."""
        b = c.shape[0]
        if self.cfg.kind == "multiclass":
            if not on:
                raise ValueError("for a digit model, set the class you want to True")
            k = self.index(name)
            draw = self.draw(torch.full((b,), k), g)
            changed = mask[:, k] < 0.5
            mask[changed] = 0.0
            mask[changed, k] = 1.0
            c[changed, k] = draw[changed]
            return
        new, old = self.slot(name, on), self.slot(name, not on)
        draw = self.draw(torch.full((b,), new), g)  # drawn even when replaced below: the seed's stream stays one
        if feats is not None:
            slots = torch.full((b,), new)
            mapped = self.transferred(slots, feats, g, self.cfg.transfer_variety)
            draw = torch.where(self.mapped(slots).unsqueeze(1), mapped, draw)
        changed = mask[:, new] < 0.5
        c[changed, new] = draw[changed]
        mask[changed, new] = 1.0
        mask[changed, old] = 0.0

    def _take(self, c: Tensor, mask: Tensor, c_b: Tensor, mask_b: Tensor, feats: Tensor | None,
              feats_b: Tensor | None, names: Sequence[str], push: float, resolve_conflicts: bool
              ) -> list[dict[str, bool]]:
        """In place (VCN.swap): the named attributes' capsules (B, K, D) and states (B, K) taken from c_b, mask_b.
        With feats / feats_b (transfer_inputs of both faces) only the donor's style is taken: its capsule minus the
        maps' prediction for the donor, times push, on the maps' prediction for this face. With resolve_conflicts,
        what is taken switched on switches off its exclusive partners not taken too. Returns each image's states of
        the names (what a verifier must see)."""
        for name in names:
            self.index(name)  # KeyError for an unknown name, before anything changes
        if self.cfg.kind == "multiclass":
            if names:  # a class swap takes the other digit wholesale
                c.copy_(c_b)
                mask.copy_(mask_b)
            return self._states(mask, names)
        rows = torch.arange(c.shape[0], device=c.device)
        for name in names:
            slots = [self.slot(name, True), self.slot(name, False)]
            if feats is not None:
                s_b, s_x = self._active_slot(mask_b, name), self._active_slot(mask, name)
                taken = self.predicted(s_b, feats, s_x) + push * (c_b[rows, s_b] - self.predicted(s_b, feats_b, s_b))
            c[:, slots], mask[:, slots] = c_b[:, slots], mask_b[:, slots]
            if feats is not None:
                c[rows, s_b] = torch.where(self.mapped(s_b).unsqueeze(1), taken, c[rows, s_b])
        asks = self._states(mask, names)
        if resolve_conflicts and self.cfg.exclusive:
            off = [dict.fromkeys(self._partners_to_clear(ask), False) for ask in asks]
            self._set_states_per_row(c, mask, off, generators([0] * c.shape[0]), False, feats)
        return asks

    def _states(self, mask: Tensor, names: Sequence[str]) -> list[dict[str, bool]]:
        """(B, K) mask -> per image, each name's state (multiclass: the active class, True)."""
        if self.cfg.kind == "multiclass":
            return [{self.cfg.capsule_names[k]: True} for k in mask.argmax(-1).tolist()]
        on = (mask[:, [self.slot(n, True) for n in names]] > 0.5).tolist()
        return [dict(zip(names, row, strict=True)) for row in on]
