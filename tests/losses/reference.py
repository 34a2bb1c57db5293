"""Slow, obviously-correct float64 reference implementations of the contrastlab losses.

This module is the independent "twin" of ``contrastlab.losses`` used by the tests.
It is written from the published formulas alone, deliberately without any
vectorisation: every loss is computed with plain Python loops over rows / pairs,
using ``math.exp``, ``math.log`` and ``math.sqrt`` on Python floats (float64).
Inputs may be torch tensors or numpy arrays (or nested lists); they are turned
into nested Python lists of floats at the top of each function. Every function
returns a Python ``float``.

Log-sum-exp is done by hand with the max-shift trick (``_lse``) so that exp never
overflows. Speed is irrelevant here; readability and correctness are the point.
"""

import math


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _to_list(x):
    """Convert a torch tensor / numpy array / nested sequence to nested lists of Python floats."""
    if hasattr(x, "detach"):  # torch.Tensor
        return x.detach().cpu().double().tolist()
    if hasattr(x, "tolist"):  # numpy array / numpy scalar
        return _floatify(x.tolist())
    return _floatify(x)


def _floatify(x):
    """Recursively turn every leaf of a nested sequence into a Python float."""
    if isinstance(x, (list, tuple)):
        return [_floatify(v) for v in x]
    return float(x)


def _to_scalar(x):
    """Convert a Python number / 0-d tensor / 0-d array to a Python float."""
    if hasattr(x, "detach"):
        return float(x.detach().cpu().double().item())
    if hasattr(x, "item"):
        return float(x.item())
    return float(x)


def _lse(values):
    """log(sum_i exp(v_i)) = m + log(sum_i exp(v_i - m)) with m = max(v)."""
    values = list(values)
    m = max(values)
    if m == -math.inf:
        return -math.inf
    total = 0.0
    for v in values:
        total += math.exp(v - m)
    return m + math.log(total)


def _dot(u, v):
    """sum_k u_k * v_k."""
    total = 0.0
    for a, b in zip(u, v):
        total += a * b
    return total


def _norm(u):
    """sqrt(sum_k u_k^2)."""
    return math.sqrt(_dot(u, u))


def _normalize(u):
    """u / ||u||_2."""
    n = _norm(u)
    return [a / n for a in u]


def _normalize_rows(rows):
    """Apply _normalize to every row."""
    return [_normalize(r) for r in rows]


def _mean(values):
    """Arithmetic mean of a non-empty sequence."""
    values = list(values)
    total = 0.0
    for v in values:
        total += v
    return total / len(values)


def _log_sigmoid(t):
    """log sigma(t) = -log(1+exp(-t)) for t >= 0, t - log(1+exp(t)) for t < 0."""
    if t >= 0:
        return -math.log1p(math.exp(-t))
    return t - math.log1p(math.exp(t))


def _pair_sims(z1, z2):
    """Normalised concat z = [z1; z2] (2N rows) and its full similarity matrix s_ij = z_i . z_j."""
    z = _normalize_rows(_to_list(z1) + _to_list(z2))
    n2 = len(z)
    s = [[_dot(z[i], z[j]) for j in range(n2)] for i in range(n2)]
    return s, n2 // 2


# ---------------------------------------------------------------------------
# contrastive losses
# ---------------------------------------------------------------------------

def info_nce(query, positive, negatives=None, temperature=0.1, symmetric=False):
    """l_i = lse(candidates_i / tau) - (q_i . p_i) / tau, mean over i (in-batch, shared or per-row negatives)."""
    tau = float(temperature)
    q = _normalize_rows(_to_list(query))
    p = _normalize_rows(_to_list(positive))
    n = len(q)

    if negatives is None:
        s = [[_dot(q[i], p[j]) for j in range(n)] for i in range(n)]
        rows = []
        for i in range(n):
            rows.append(_lse([s[i][j] / tau for j in range(n)]) - s[i][i] / tau)
        row_loss = _mean(rows)
        if not symmetric:
            return float(row_loss)
        cols = []
        for j in range(n):
            cols.append(_lse([s[i][j] / tau for i in range(n)]) - s[j][j] / tau)
        return float(0.5 * (row_loss + _mean(cols)))

    if symmetric:
        raise ValueError("symmetric=True is only defined with negatives=None")

    neg = _to_list(negatives)
    # shared negatives: (M, D) -> first element is a row of floats;
    # per-row negatives: (N, M, D) -> first element is a list of rows.
    per_row = len(neg) > 0 and isinstance(neg[0], list) and len(neg[0]) > 0 and isinstance(neg[0][0], list)
    if per_row:
        neg_rows = [_normalize_rows(neg[i]) for i in range(n)]
    else:
        shared = _normalize_rows(neg)
        neg_rows = [shared for _ in range(n)]

    losses = []
    for i in range(n):
        pos = _dot(q[i], p[i])
        cand = [pos / tau] + [_dot(q[i], nm) / tau for nm in neg_rows[i]]
        losses.append(_lse(cand) - pos / tau)
    return float(_mean(losses))


def nt_xent(z1, z2, temperature=0.1):
    """l_a = lse_{k != a}(s_ak / tau) - s_{a, a+N mod 2N} / tau, mean over the 2N anchors (SimCLR)."""
    tau = float(temperature)
    s, n = _pair_sims(z1, z2)
    losses = []
    for a in range(2 * n):
        pos = (a + n) % (2 * n)
        logits = [s[a][k] / tau for k in range(2 * n) if k != a]
        losses.append(_lse(logits) - s[a][pos] / tau)
    return float(_mean(losses))


def clip_loss(a, b, logit_scale):
    """0.5 * (mean_i [lse_j L_ij - L_ii] + mean_j [lse_i L_ij - L_jj]), L_ij = scale * a_i . b_j."""
    scale = _to_scalar(logit_scale)
    an = _normalize_rows(_to_list(a))
    bn = _normalize_rows(_to_list(b))
    n = len(an)
    L = [[scale * _dot(an[i], bn[j]) for j in range(n)] for i in range(n)]
    rows = [_lse([L[i][j] for j in range(n)]) - L[i][i] for i in range(n)]
    cols = [_lse([L[i][j] for i in range(n)]) - L[j][j] for j in range(n)]
    return float(0.5 * (_mean(rows) + _mean(cols)))


def siglip_loss(a, b, logit_scale, logit_bias):
    """-(1/N) sum_i sum_j log sigma(z_ij * (scale * a_i . b_j + bias)), z_ij = +1 if i == j else -1."""
    scale = _to_scalar(logit_scale)
    bias = _to_scalar(logit_bias)
    an = _normalize_rows(_to_list(a))
    bn = _normalize_rows(_to_list(b))
    n = len(an)
    total = 0.0
    for i in range(n):
        for j in range(n):
            x = scale * _dot(an[i], bn[j]) + bias
            z = 1.0 if i == j else -1.0
            total += _log_sigmoid(z * x)
    return float(-total / n)


def supcon(features, labels, temperature=0.1):
    """l_r = -(1/|P(r)|) sum_{p in P(r)} [s_rp / tau - lse_{a != r} s_ra / tau], mean over anchors with P(r) non-empty."""
    tau = float(temperature)
    feats = _to_list(features)  # (N, V, D)
    labs = _to_list(labels)
    labs = [lab if not isinstance(lab, float) or not lab.is_integer() else int(lab) for lab in labs]
    n = len(feats)
    v_count = len(feats[0])
    # view-major flattening: r = v * N + n
    z = []
    zl = []
    for v in range(v_count):
        for i in range(n):
            z.append(_normalize(feats[i][v]))
            zl.append(labs[i])
    total_anchors = len(z)

    losses = []
    for r in range(total_anchors):
        others = [k for k in range(total_anchors) if k != r]
        positives = [k for k in others if zl[k] == zl[r]]
        if not positives:
            continue
        sims = {k: _dot(z[r], z[k]) / tau for k in others}
        log_denom = _lse([sims[k] for k in others])
        acc = 0.0
        for p in positives:
            acc += sims[p] - log_denom
        losses.append(-acc / len(positives))
    if not losses:
        return 0.0
    return float(_mean(losses))


def debiased_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1):
    """l_a = -log(pos / (pos + max((sum_neg - tau_plus*Nn*pos)/(1-tau_plus), Nn*e^{-1/tau}))) (Chuang 2020; direct exp, fine for tau >= 0.05 in float64)."""
    tau = float(temperature)
    tp = float(tau_plus)
    s, n = _pair_sims(z1, z2)
    nn = 2 * n - 2
    losses = []
    for a in range(2 * n):
        p_idx = (a + n) % (2 * n)
        pos = math.exp(s[a][p_idx] / tau)
        neg_sum = 0.0
        for k in range(2 * n):
            if k == a or k == p_idx:
                continue
            neg_sum += math.exp(s[a][k] / tau)
        ng = (-tp * nn * pos + neg_sum) / (1.0 - tp)
        ng = max(ng, nn * math.exp(-1.0 / tau))
        losses.append(-math.log(pos / (pos + ng)))
    return float(_mean(losses))


def hard_negative_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1, beta=1.0):
    """As debiased_nt_xent with neg_sum -> sum_k imp_k e^{s_ak/tau} / mean_k imp_k, imp_k = e^{beta s_ak/tau} (Robinson 2021; direct exp)."""
    tau = float(temperature)
    tp = float(tau_plus)
    bt = float(beta)
    s, n = _pair_sims(z1, z2)
    nn = 2 * n - 2
    losses = []
    for a in range(2 * n):
        p_idx = (a + n) % (2 * n)
        pos = math.exp(s[a][p_idx] / tau)
        weighted = 0.0
        imp_sum = 0.0
        for k in range(2 * n):
            if k == a or k == p_idx:
                continue
            e = math.exp(s[a][k] / tau)
            imp = math.exp(bt * s[a][k] / tau)
            weighted += imp * e
            imp_sum += imp
        reweight = weighted / (imp_sum / nn)
        ng = (-tp * nn * pos + reweight) / (1.0 - tp)
        ng = max(ng, nn * math.exp(-1.0 / tau))
        losses.append(-math.log(pos / (pos + ng)))
    return float(_mean(losses))


def decoupled_nt_xent(z1, z2, temperature=0.1):
    """l_a = lse_{k not in {a, pos(a)}}(s_ak / tau) - s_{a,pos(a)} / tau, mean over 2N (Yeh 2022, DCL)."""
    tau = float(temperature)
    s, n = _pair_sims(z1, z2)
    losses = []
    for a in range(2 * n):
        p_idx = (a + n) % (2 * n)
        logits = [s[a][k] / tau for k in range(2 * n) if k != a and k != p_idx]
        losses.append(_lse(logits) - s[a][p_idx] / tau)
    return float(_mean(losses))


def oracle_nt_xent(z1, z2, labels, temperature=0.5):
    """NT-Xent whose negatives exclude every sample of the anchor's class (the twin stays the positive)."""
    a = _normalize_rows(_to_list(z1))
    b = _normalize_rows(_to_list(z2))
    y = [int(v) for v in _to_list(labels)]
    n = len(a)
    z = a + b
    ys = y + y
    losses = []
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        candidates = [_dot(z[i], z[pos]) / temperature]
        for k in range(2 * n):
            if k != i and k != pos and ys[k] != ys[i]:
                candidates.append(_dot(z[i], z[k]) / temperature)
        losses.append(_lse(candidates) - _dot(z[i], z[pos]) / temperature)
    return _mean(losses)


def filtered_nt_xent(z1, z2, temperature=0.1, threshold=None, cluster_ids=None, reference=None):
    """NT-Xent over the positive and the negatives no filter drops (false-negative elimination).

    Negative k of anchor a is dropped when cos(r_a, r_k) >= threshold (r: the rows of ``reference``, or
    of [z1; z2] when it is None) or when samples a mod N and k mod N share a cluster id.
    """
    tau = float(temperature)
    s, n = _pair_sims(z1, z2)
    if reference is None:
        sim = s
    else:
        r = _normalize_rows(_to_list(reference))
        sim = [[_dot(r[i], r[j]) for j in range(2 * n)] for i in range(2 * n)]
    ids = None if cluster_ids is None else [int(v) for v in _to_list(cluster_ids)] * 2
    losses = []
    for a in range(2 * n):
        pos = (a + n) % (2 * n)
        candidates = [s[a][pos] / tau]
        for k in range(2 * n):
            if k == a or k == pos:
                continue
            by_threshold = threshold is not None and sim[a][k] >= threshold
            by_cluster = ids is not None and ids[a] == ids[k]
            if not (by_threshold or by_cluster):
                candidates.append(s[a][k] / tau)
        losses.append(_lse(candidates) - s[a][pos] / tau)
    return float(_mean(losses))


def clip_loss_with_negatives(a, b, b_negatives, logit_scale):
    """NegCLIP: 0.5 * (mean_i [lse(L_i1..L_iN, t a_i.n_1..t a_i.n_M) - L_ii] + mean_j [lse_i L_ij - L_jj])."""
    scale = _to_scalar(logit_scale)
    an = _normalize_rows(_to_list(a))
    bn = _normalize_rows(_to_list(b))
    nn = _normalize_rows(_to_list(b_negatives))
    n = len(an)
    L = [[scale * _dot(an[i], bn[j]) for j in range(n)] for i in range(n)]
    rows = []
    for i in range(n):
        candidates = L[i] + [scale * _dot(an[i], neg) for neg in nn]
        rows.append(_lse(candidates) - L[i][i])
    cols = [_lse([L[i][j] for i in range(n)]) - L[j][j] for j in range(n)]
    return float(0.5 * (_mean(rows) + _mean(cols)))


# ---------------------------------------------------------------------------
# alignment / uniformity (Wang & Isola 2020)
# ---------------------------------------------------------------------------

def alignment(x, y, alpha=2):
    """mean_i ||x_i/|x_i| - y_i/|y_i|||_2 ^ alpha."""
    xn = _normalize_rows(_to_list(x))
    yn = _normalize_rows(_to_list(y))
    vals = []
    for xi, yi in zip(xn, yn):
        d = math.sqrt(sum((a - b) ** 2 for a, b in zip(xi, yi)))
        vals.append(d ** alpha)
    return float(_mean(vals))


def uniformity(x, t=2):
    """log mean_{i<j} exp(-t ||x_i - x_j||^2) on normalised rows, computed as lse - log(#pairs)."""
    tt = float(t)
    xn = _normalize_rows(_to_list(x))
    n = len(xn)
    vals = []
    for i in range(n):
        for j in range(i + 1, n):
            sq = sum((a - b) ** 2 for a, b in zip(xn[i], xn[j]))
            vals.append(-tt * sq)
    return float(_lse(vals) - math.log(len(vals)))


# ---------------------------------------------------------------------------
# non-contrastive losses
# ---------------------------------------------------------------------------

def negative_cosine(p, z):
    """-mean_i (p_i . z_i) / (|p_i| |z_i|)."""
    pl = _to_list(p)
    zl = _to_list(z)
    vals = [_dot(pi, zi) / (_norm(pi) * _norm(zi)) for pi, zi in zip(pl, zl)]
    return float(-_mean(vals))


def _column_stats(rows):
    """Per-column mean of a list of equal-length rows."""
    n = len(rows)
    d = len(rows[0])
    return [sum(rows[i][j] for i in range(n)) / n for j in range(d)]


def barlow_twins(z1, z2, lambda_=0.0051):
    """sum_i (C_ii - 1)^2 + lambda * sum_{i != j} C_ij^2, C = bn(z1)^T bn(z2) / N, bn = (x - mean)/sqrt(var_biased + 1e-5)."""
    lam = float(lambda_)
    a = _to_list(z1)
    b = _to_list(z2)
    n = len(a)
    d = len(a[0])

    def standardise(rows):
        mu = _column_stats(rows)
        var = [sum((rows[i][j] - mu[j]) ** 2 for i in range(n)) / n for j in range(d)]
        return [[(rows[i][j] - mu[j]) / math.sqrt(var[j] + 1e-5) for j in range(d)] for i in range(n)]

    at = standardise(a)
    bt = standardise(b)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(at[k][i] * bt[k][j] for k in range(n)) / n
            if i == j:
                loss += (c - 1.0) ** 2
            else:
                loss += lam * c * c
    return float(loss)


def vicreg(z1, z2, sim_weight=25, var_weight=25, cov_weight=1):
    """sim_w * mean (z1-z2)^2 + var_w * (mean relu(1-std1)/2 + mean relu(1-std2)/2) + cov_w * (sum_offdiag cov1^2/D + sum_offdiag cov2^2/D)."""
    a = _to_list(z1)
    b = _to_list(z2)
    n = len(a)
    d = len(a[0])

    repr_loss = 0.0
    for i in range(n):
        for j in range(d):
            repr_loss += (a[i][j] - b[i][j]) ** 2
    repr_loss /= n * d

    def centre(rows):
        mu = _column_stats(rows)
        return [[rows[i][j] - mu[j] for j in range(d)] for i in range(n)]

    ac = centre(a)
    bc = centre(b)

    def std_term(rows_c):
        acc = 0.0
        for j in range(d):
            var = sum(rows_c[i][j] ** 2 for i in range(n)) / (n - 1)
            std = math.sqrt(var + 1e-4)
            acc += max(0.0, 1.0 - std)
        return acc / d

    std_loss = std_term(ac) / 2 + std_term(bc) / 2

    def cov_term(rows_c):
        acc = 0.0
        for i in range(d):
            for j in range(d):
                if i == j:
                    continue
                c = sum(rows_c[k][i] * rows_c[k][j] for k in range(n)) / (n - 1)
                acc += c * c
        return acc / d

    cov_loss = cov_term(ac) + cov_term(bc)

    return float(sim_weight * repr_loss + var_weight * std_loss + cov_weight * cov_loss)


# ---------------------------------------------------------------------------
# self-test: closed forms
# ---------------------------------------------------------------------------

if __name__ == "__main__":
    for n_rows in (2, 4, 7):
        row = [0.3, -1.2, 2.5, 0.7]
        same = [list(row) for _ in range(n_rows)]
        for tau in (0.05, 0.1, 0.5, 1.0):
            got = nt_xent(same, same, temperature=tau)
            want = math.log(2 * n_rows - 1)
            assert abs(got - want) < 1e-12, ("nt_xent", n_rows, tau, got, want)
            got = info_nce(same, same, temperature=tau)
            want = math.log(n_rows)
            assert abs(got - want) < 1e-12, ("info_nce", n_rows, tau, got, want)
            got = info_nce(same, same, temperature=tau, symmetric=True)
            assert abs(got - want) < 1e-12, ("info_nce symmetric", n_rows, tau, got, want)
        print(f"N={n_rows}: nt_xent == log(2N-1) = {math.log(2 * n_rows - 1):.12f}, "
              f"info_nce == log(N) = {math.log(n_rows):.12f}  OK")
    print("reference self-test passed")
