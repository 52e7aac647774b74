"""Invalid-traffic screening and brand safety, run on the hot path without network calls.

Every list the checks use (crawler patterns, data-centre ranges, the sellers file) is
loaded once at start-up; per-request work is lookups in memory. The one shared state, the
request rates per IP and per device, is counted locally and exchanged with the counter
store in the background (``fraud.rates``).

Modules: ``verdict`` (checks, actions, findings), ``user_agents`` (known crawlers),
``ip_ranges`` (data-centre ranges), ``device`` (routable IPs, UA/OS contradictions,
impossible screens), ``rates`` (sliding-window counts), ``sellers`` (sellers.json and
``schain``), ``screen`` (all of them, in order, with the configured action each),
``brand_safety`` (exchange and publisher blocklists applied to bids);
``build_datacenter_ranges`` writes the shipped data-centre ranges and is run by hand, never
served.
"""
