"""Invalid-traffic screening and brand safety, run in the hot path without network calls.

Empty for now: the screening rules (user agents, data-centre IP ranges, rate anomalies,
seller and supply-chain checks, brand-safety lists) arrive with their own issue. The
package exists so that the layout and the import direction are fixed from the start.
"""
