/**
 * A tiny SVG line plotter for the benchmark charts (no browser, no dependency): several series of (x, y) points,
 * each axis linear or log10, ticks at powers of ten (log) or round steps (linear), and a legend.
 */

export interface ChartSeries {
	name: string;
	points: [number, number][];
	color?: string;
	/** Dashed line, e.g. for the floor. */
	dashed?: boolean;
}

export interface ChartAxis {
	label: string;
	log?: boolean;
	/** Tick values to label; default: powers of ten (log) or five even steps (linear). */
	ticks?: number[];
	/** Tick label text; default formatTick. */
	tickLabel?: (value: number) => string;
}

export interface LineChart {
	title: string;
	x: ChartAxis;
	y: ChartAxis;
	series: ChartSeries[];
	width?: number;
	height?: number;
}

const PALETTE = ["#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd"];
const MARGIN = { left: 78, right: 150, top: 36, bottom: 52 };

function escapeXml(text: string): string {
	return text
		.replace(/&/g, "&amp;")
		.replace(/</g, "&lt;")
		.replace(/>/g, "&gt;");
}

/** 1234 → "1.2k", 0.05 → "0.05": short tick labels. */
export function formatTick(value: number): string {
	const abs = Math.abs(value);
	if (abs >= 1e6) return `${trim(value / 1e6)}M`;
	if (abs >= 1e3) return `${trim(value / 1e3)}k`;
	return trim(value);
}

function trim(value: number): string {
	return String(Number(value.toPrecision(3)));
}

interface Scale {
	toPixel(value: number): number;
	ticks: number[];
}

function scale(
	axis: ChartAxis,
	values: number[],
	from: number,
	to: number,
): Scale {
	const usable = axis.log ? values.filter((v) => v > 0) : values;
	let min = Math.min(...usable);
	let max = Math.max(...usable);
	if (!Number.isFinite(min) || !Number.isFinite(max)) {
		min = axis.log ? 1 : 0;
		max = axis.log ? 10 : 1;
	}
	if (axis.log) {
		const lo = Math.floor(Math.log10(min));
		const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
		const ticks =
			axis.ticks ??
			Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
		return {
			toPixel: (v) =>
				from +
				((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (to - from),
			ticks,
		};
	}
	if (min === max) max = min + 1;
	min = Math.min(0, min);
	const step = niceStep((max - min) / 5);
	const top = Math.ceil(max / step) * step;
	const ticks =
		axis.ticks ??
		Array.from(
			{ length: Math.round((top - min) / step) + 1 },
			(_, i) => min + i * step,
		);
	return {
		toPixel: (v) => from + ((v - min) / (top - min)) * (to - from),
		ticks,
	};
}

function niceStep(raw: number): number {
	const power = 10 ** Math.floor(Math.log10(raw));
	const fraction = raw / power;
	return (
		(fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
	);
}

export function renderLineChart(chart: LineChart): string {
	const width = chart.width ?? 720;
	const height = chart.height ?? 400;
	const plotRight = width - MARGIN.right;
	const plotBottom = height - MARGIN.bottom;
	const allPoints = chart.series.flatMap((s) =>
		s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
	);
	const xs = scale(
		chart.x,
		allPoints.map(([x]) => x),
		MARGIN.left,
		plotRight,
	);
	const ys = scale(
		chart.y,
		allPoints.map(([, y]) => y),
		plotBottom,
		MARGIN.top,
	);
	const out: string[] = [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
		`<title>${escapeXml(chart.title)}</title>`,
		`<rect width="${width}" height="${height}" fill="#ffffff"/>`,
		`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(chart.title)}</text>`,
	];
	for (const tick of xs.ticks) {
		const px = xs.toPixel(tick).toFixed(1);
		out.push(
			`<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${plotBottom}" stroke="#e5e5e5"/>`,
			`<text x="${px}" y="${plotBottom + 16}" text-anchor="middle">${escapeXml((chart.x.tickLabel ?? formatTick)(tick))}</text>`,
		);
	}
	for (const tick of ys.ticks) {
		const py = ys.toPixel(tick).toFixed(1);
		out.push(
			`<line x1="${MARGIN.left}" y1="${py}" x2="${plotRight}" y2="${py}" stroke="#e5e5e5"/>`,
			`<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml((chart.y.tickLabel ?? formatTick)(tick))}</text>`,
		);
	}
	out.push(
		`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotRight - MARGIN.left}" height="${plotBottom - MARGIN.top}" fill="none" stroke="#333"/>`,
		`<text x="${(MARGIN.left + plotRight) / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(chart.x.label)}${chart.x.log ? " (log)" : ""}</text>`,
		`<text x="16" y="${(MARGIN.top + plotBottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(MARGIN.top + plotBottom) / 2})">${escapeXml(chart.y.label)}${chart.y.log ? " (log)" : ""}</text>`,
	);
	chart.series.forEach((series, i) => {
		const color = series.color ?? PALETTE[i % PALETTE.length];
		const points = series.points.filter(
			([x, y]) =>
				Number.isFinite(x) &&
				Number.isFinite(y) &&
				(!chart.x.log || x > 0) &&
				(!chart.y.log || y > 0),
		);
		const coords = points.map(
			([x, y]) => `${xs.toPixel(x).toFixed(1)},${ys.toPixel(y).toFixed(1)}`,
		);
		const dash = series.dashed ? ' stroke-dasharray="6 4"' : "";
		if (coords.length > 1)
			out.push(
				`<polyline points="${coords.join(" ")}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
			);
		for (const c of coords) {
			const [cx, cy] = c.split(",");
			out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
		}
		const ly = MARGIN.top + 8 + i * 20;
		out.push(
			`<line x1="${plotRight + 12}" y1="${ly}" x2="${plotRight + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
			`<text x="${plotRight + 42}" y="${ly}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
		);
	});
	out.push("</svg>");
	return `${out.join("\n")}\n`;
}
