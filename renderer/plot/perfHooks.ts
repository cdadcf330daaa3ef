// Stands in for node's perf_hooks when linkedom is bundled into the plot worker.
export const performance = globalThis.performance;
