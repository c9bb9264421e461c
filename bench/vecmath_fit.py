"""Derive the tanh polynomials of csrc/cyneuron/_vecmath.h (not part of the test suite; needs mpmath).

    python bench/vecmath_fit.py [--xmax 0.55] [--degrees 4 10]

tanh(x) = x + x u h(u) with u = x^2 for |x| < xmax: h is fitted by weighted least squares (weight u,
so the fit minimises tanh's relative error) on Chebyshev nodes in 50-digit arithmetic. Prints, per
degree, the worst relative error over a dense grid and the coefficients of h, constant term first
(the header evaluates them by Horner from the highest). Degree 4 serves float (1.1e-9), degree 10
double (6e-19); above xmax the header uses 1 - 2 / (exp(2|x|) + 1).
"""

from __future__ import annotations

import argparse

import mpmath as mp


def fit(xmax: float, degree: int, nodes: int = 400) -> tuple[list, object]:
    mp.mp.dps = 50
    umax = mp.mpf(xmax) ** 2
    rows, rhs = [], []
    for k in range(nodes):
        u = umax * (1 - mp.cos(mp.pi * (k + 0.5) / nodes)) / 2
        x = mp.sqrt(u)
        h = (mp.tanh(x) / x - 1) / u
        rows.append([u * u**j for j in range(degree + 1)])
        rhs.append(u * h)
    a, b = mp.matrix(rows), mp.matrix(rhs)
    coefficients = mp.lu_solve(a.T * a, a.T * b)
    worst = mp.mpf(0)
    for k in range(1, 2001):
        x = mp.mpf(xmax) * k / 2000
        u = x * x
        value = x + x * u * sum(coefficients[j] * u**j for j in range(degree + 1))
        worst = max(worst, abs(value / mp.tanh(x) - 1))
    return [coefficients[j] for j in range(degree + 1)], worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--xmax", type=float, default=0.55)
    parser.add_argument("--degrees", type=int, nargs="+", default=[4, 10])
    args = parser.parse_args()
    for degree in args.degrees:
        coefficients, worst = fit(args.xmax, degree)
        print(f"degree {degree}: max relative error {mp.nstr(worst, 3)}")
        for c in coefficients:
            print(f"    {mp.nstr(c, 20)}")


if __name__ == "__main__":
    main()
