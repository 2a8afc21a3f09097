package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.MappingStartEvent;
import org.yaml.snakeyaml.events.NodeEvent;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.events.SequenceStartEvent;
import org.yaml.snakeyaml.nodes.NodeId;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * Reads every document of a (multi-document) YAML text into located {@link YNode} trees, with the
 * semantics kubectl's YAML reader (go-yaml, YAML 1.1) gives them: anchors and aliases are
 * expanded, merge keys ({@code <<}) are merged with explicit keys winning, a duplicate key is an
 * error, and plain scalars are typed (int, bool, null, ...) so that a field expecting a string can
 * refuse {@code 8080}. Expansion, nesting and size are bounded; each limit's error names file and line.
 */
public final class YamlDocuments {

    /** Deepest nesting of mappings and lists accepted in one document. */
    public static final int MAX_DEPTH = 64;
    /**
     * Most nodes alias expansion may add to one document (billion-laughs guard). Nodes written out are
     * bounded by {@link #MAX_CHARS} already.
     */
    public static final int MAX_ALIAS_NODES = 100_000;
    /** Largest text accepted, in characters. */
    public static final int MAX_CHARS = 64 << 20;

    private static final Resolver RESOLVER = new Resolver();

    private final String file;
    private final String text;
    private ParserImpl parser;
    /** See {@link #lineStarts()}; null until the first lookup. */
    private int[] lineStarts;
    /**
     * The keys read whose block may still hold the next line, by column (outermost first): a key pops
     * those at its column or right of it. What a syntax error's line is placed under.
     */
    private final ArrayList<KeyAt> keys = new ArrayList<>();
    /** The last key read (its path, line and 0-based column): where a list's next index and a keyless line's field come from. */
    private KeyAt lastKey;
    /**
     * The last key of a block mapping, for a line that lines up with no key: a flow mapping's key
     * ({@code labels: {app: x}}) sits at any column, so comparing a line's column with it says nothing.
     */
    private KeyAt lastBlockKey;

    /** A key read: its parent's path, its own, line (1-based), column (0-based), whether its value began on its line. */
    private record KeyAt(String parent, String path, int line, int column, boolean inline) {
    }

    /** A line (1-based) whose first key's path {@link #readings} wants, or -1. */
    private int wantLine = -1;
    /** The path of the first key read on {@link #wantLine}, or null. */
    private String pathAtWantLine;
    /** Lines (1-based) whose key must not be left with an empty block, for {@link #tabField}; null: none. */
    private int[] emptyBlockLines;
    /** A key on one of {@link #emptyBlockLines} had no value on its line and none below it. */
    private boolean emptyBlock;

    /** Where {@link #documents} hands what it reads. */
    private Sink sink;
    /** Offset in the text where the current document's root starts (its line's start), for {@link #readAhead}. */
    private int rootStart;

    /**
     * The last short scalar or key text read per hash slot, so that values repeated across documents ({@code ALLOW},
     * {@code GET}, a namespace, a label key) share one String in the compiled policies instead of one per policy.
     * Direct-mapped and fixed in size: no growth with the text.
     */
    private final String[] shared = new String[1024];

    private Map<String, YNode> anchors = new HashMap<>();
    /** Node count of each anchored subtree, so that an alias too big to copy fails before copying. */
    private Map<String, Integer> anchorSizes = new HashMap<>();
    private int nodes;
    private int aliasNodes;

    private YamlDocuments(String file, String yaml) {
        this.file = file;
        this.text = yaml;
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(Integer.MAX_VALUE);
        this.parser = new ParserImpl(new StreamReader(new StringReader(yaml)), options);
    }

    public static List<YNode> parse(String file, String yaml) throws PolicyLoadException {
        return parse(file, yaml, MAX_CHARS);
    }

    static List<YNode> parse(String file, String yaml, int maxChars) throws PolicyLoadException {
        List<YNode> docs = new ArrayList<>();
        parse(file, yaml, maxChars, docs::add);
        return docs;
    }

    /** What a streaming {@link #parse(String, String, Sink)} hands each document to. */
    @FunctionalInterface
    public interface Sink {
        /** Takes one non-null document, in text order; a {@link PolicyLoadException} ends the parse with it. */
        void accept(YNode document) throws PolicyLoadException;

        /**
         * Whether the items of a document whose root mapping has this {@code kind} and {@code apiVersion} (each the
         * text of a scalar, or null: absent, not a scalar, or behind a syntax error) go to {@link #item} one at a time
         * as they are read. If so, the document {@link #accept} gets afterwards holds an empty {@code items} list, an
         * anchored items list is not kept (an alias of it is an error), and a second {@code items} key's items are read
         * and dropped before its duplicate-key error. Asked at each root {@code items} list; the kind and apiVersion may
         * come after it in the text (kubectl writes {@code apiVersion, items, kind, metadata}), in which case they are
         * found by reading ahead.
         */
        default boolean streamsItems(String kind, String apiVersion) {
            return false;
        }

        /** Takes one item of a list {@link #streamsItems} accepted, in text order, before its document. */
        default void item(YNode item) throws PolicyLoadException {
            throw new IllegalStateException("streamsItems said yes without an item sink");
        }
    }

    /**
     * As {@link #parse(String, String)}, each document handed to {@code sink} as soon as it is read, so that only one
     * document's tree is held at a time (the loader compiles it and drops it): a 10,000-policy text held every tree at
     * once, and did not load in the node proxy's 128 MB heap. An error stops the parse: the first one in text order,
     * a syntax error or one {@code sink} throws, whichever comes first.
     *
     * @return how many documents {@code sink} was given
     */
    public static int parse(String file, String yaml, Sink sink) throws PolicyLoadException {
        return parse(file, yaml, MAX_CHARS, sink);
    }

    /**
     * {@code yaml} with every tab in a line's leading white space replaced by a space, on the lines of each document
     * whose root is a flow mapping (JSON: {@code jq --tab}, {@code json.dumps(indent='\t')}), or {@code yaml} itself
     * when there is none. kubectl reads a stream that starts with {@code {} as JSON, in which a tab is white space
     * like a space (k8s.io/apimachinery yaml.NewYAMLOrJSONDecoder); in YAML 1.2 too a flow collection's line prefix
     * may hold tabs (spec 6.1, {@code s-flow-line-prefix}), and a continuation line's leading white space is never
     * content. SnakeYAML refuses such a tab as indentation, so it gets a space: one character for one, lines and
     * columns unchanged. Block documents are left alone: there a tab in the indentation is an error (a guessed width
     * could change the structure), and {@link #tabField} names the field.
     */
    static String flowIndentTabsAsSpaces(String yaml) {
        if (yaml.indexOf('\t') < 0) {
            return yaml;
        }
        char[] out = null;
        boolean docStart = true;
        boolean flow = false;
        int n = yaml.length();
        for (int ls = 0; ls < n; ) {
            int le = yaml.indexOf('\n', ls);
            le = le < 0 ? n : le;
            int body = ls;
            if (yaml.startsWith("---", ls) && (ls + 3 == le || yaml.charAt(ls + 3) == ' ' || yaml.charAt(ls + 3) == '\t'
                    || yaml.charAt(ls + 3) == '\r')) {
                docStart = true;
                flow = false;
                body = ls + 3;
            } else if (yaml.startsWith("...", ls) && (ls + 3 == le || Character.isWhitespace(yaml.charAt(ls + 3)))) {
                docStart = true;
                flow = false;
                body = le;
            }
            int first = body;
            while (first < le && (yaml.charAt(first) == ' ' || yaml.charAt(first) == '\t')) {
                first++;
            }
            if (docStart && first < le && yaml.charAt(first) != '#' && yaml.charAt(first) != '\r'
                    && !(body == ls && yaml.charAt(first) == '%')) {
                docStart = false;
                flow = yaml.charAt(first) == '{';
            }
            if (flow) {
                for (int i = body; i < first; i++) {
                    if (yaml.charAt(i) == '\t') {
                        if (out == null) {
                            out = yaml.toCharArray();
                        }
                        out[i] = ' ';
                    }
                }
            }
            ls = le + 1;
        }
        return out == null ? yaml : new String(out);
    }

    private static int parse(String file, String yaml, int maxChars, Sink sink) throws PolicyLoadException {
        if (yaml.length() > maxChars) {
            throw new PolicyLoadException(file, lineAt(yaml, maxChars), "",
                    "too large: " + yaml.length() + " characters (limit " + maxChars + "); the limit is reached on this line");
        }
        YamlDocuments d = new YamlDocuments(file, flowIndentTabsAsSpaces(yaml));
        try {
            return d.documents(sink);
        } catch (MarkedYAMLException e) {
            throw d.syntaxError(e);
        } catch (YAMLException e) {
            throw new PolicyLoadException(file, 0, "", "invalid YAML: " + e.getMessage(), e);
        }
    }

    /**
     * A line's indentation (group 1), list dashes (group 2) and key ({@code key:}, {@code - key:}, quoted
     * or not; group 3), if it starts with one.
     */
    private static final java.util.regex.Pattern LINE_KEY = java.util.regex.Pattern.compile(
            "^([ \\t]*)((?:-[ \\t]+)*)(?:[\"']?([^\\s\"'#:{}\\[\\],&*!|>-][^\"'#:]*?)[\"']?[ \\t]*:(?:[ \\t]|$))?");

    /**
     * SnakeYAML's syntax error as the loader's other errors read: file, line and the field the line
     * holds. SnakeYAML names only a position (a new-user pass found {@code p.yaml:19: invalid YAML:
     * while scanning for the next token: found character '\t(TAB)' ...} with no field), so the field
     * is the key typed on the error's line placed under the mapping or list being read when the
     * parser failed, else the nearest key read before it. A line that lines up with no key also gets
     * the columns to compare (the key before it and its own).
     */
    private PolicyLoadException syntaxError(MarkedYAMLException e) {
        Mark m = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
        String problem = e.getProblem() == null ? e.getMessage() : e.getProblem();
        if (m == null) {
            return new PolicyLoadException(file, 0, "", "invalid YAML: " + problem, e);
        }
        int line = m.getLine() + 1;
        String lineText = lineText(line);
        java.util.regex.Matcher km = LINE_KEY.matcher(lineText);
        km.find(); // matches every line: all its groups are optional
        String key = km.group(3) == null ? null : km.group(3).strip();
        boolean tab = problem.contains("(TAB)") || (km.group(1) + km.group(2)).indexOf('\t') >= 0;
        String field = field(key, columns(km.group(1)), km.group(2).isEmpty() ? -1 : columns(km.group(1) + km.group(2)) - 2);
        String what;
        Boolean unclosed;
        int[] quote;
        int[] comma;
        if (tab) {
            // SnakeYAML: "found character '\t(TAB)' that cannot start any token. (Do not use \t(TAB) for indentation)".
            String prefix = km.group(1) + km.group(2);
            // SnakeYAML also refuses a tab inside a line where it starts no token (after "key:", after a flow
            // collection's comma), which kubectl's YAML reader takes: say where it is, not "indentation".
            what = prefix.indexOf('\t') >= 0
                    ? "a tab character (\\t) in the indentation: YAML indents with spaces only; replace the tab with spaces"
                    : "a tab character (\\t) inside the line, where this YAML reader takes none (kubectl's does);"
                    + " replace the tab with a space";
            if (key != null && prefix.indexOf('\t') >= 0) {
                String[] read = tabField(line, km.group(1), km.group(2), key);
                if (read != null) {
                    field = read[0];
                    what += read[1];
                }
            }
        } else if (noColon(e)) {
            // SnakeYAML read a possible key ("ingress", "to", a stray word) and reached a later line's ':' or the end of
            // the text without the ':' the key needed; it names that later point as the problem and the word only as
            // context. The word's line is the mistake: the later line's key and a path placed from it were not.
            Mark word = e.getContextMark();
            line = word.getLine() + 1;
            String wordLine = lineText(line);
            int col = Math.min(word.getColumn(), wordLine.length());
            String said = wordLine.substring(col);
            int comment = said.indexOf(" #");
            said = (comment >= 0 ? said.substring(0, comment) : said).strip();
            if (said.length() > 60) {
                said = said.substring(0, 57) + "...";
            }
            String prefix = wordLine.substring(0, col);
            String indent = prefix.substring(0, prefix.length() - prefix.stripLeading().length());
            field = enclosing(columns(indent), prefix.stripLeading().startsWith("-") ? columns(indent) : -1);
            what = "\"" + said + "\" has no ':' after it (a key needs one; or, if it is a value, indent it under its key)";
        } else if ((quote = quoteInFlow(e)) != null) {
            // A quote left open inside the flow collection ran over the lines below it, up to the next quote: the
            // bracket SnakeYAML then misses is not the mistake, the quote is.
            line = quote[0];
            field = lastKey != null && lastKey.line() <= line ? lastKey.path() : field;
            String q = quote[2] == '"' ? "'\"'" : "\"'\"";
            what = "the quote " + q + " opened at line " + quote[0] + ", column " + quote[1]
                    + " is not closed on its line: add the closing " + q + " (SnakeYAML: " + problem + ")";
        } else if ("while scanning a quoted scalar".equals(e.getContext()) && e.getContextMark() != null) {
            Mark open = e.getContextMark();
            line = open.getLine() + 1;
            field = lastKey != null && lastKey.line() <= line ? lastKey.path() : "";
            String q = lineText(line);
            String c = open.getColumn() < q.length() && q.charAt(open.getColumn()) == '\'' ? "\"'\"" : "'\"'";
            what = "the quote " + c + " opened at line " + line + ", column " + (open.getColumn() + 1)
                    + " is not closed: add the closing " + c + " (SnakeYAML: " + problem + ")";
        } else if ((comma = missingComma(e)) != null) {
            // JSON (a quoted key, a .json file or a text that starts with '{'): SnakeYAML names the entry after the
            // missing ',' (the next line's key) and "expected ',' or '}'". A missing ',' is the common slip there; read
            // as an unclosed bracket (below) it was told to add a '}'.
            line = comma[0];
            String before = lineText(line);
            java.util.regex.Matcher bm = LINE_KEY.matcher(before);
            bm.find();
            String beforeKey = bm.group(3) == null ? null : bm.group(3).strip();
            // The ',' ends the entry that starts its line ("metadata": {...}), not the last key read inside it.
            field = beforeKey != null && comma[1] > line ? field(beforeKey, columns(bm.group(1)), -1)
                    : lastKey != null && lastKey.line() <= line ? lastKey.path() : field;
            Mark open = e.getContextMark();
            boolean list = "while parsing a flow sequence".equals(e.getContext());
            String next = lineText(comma[1]).substring(comma[2]).strip();
            int cut = next.indexOf(':');
            next = cut > 0 ? next.substring(0, cut).strip() : next;
            if (next.startsWith("{") || next.startsWith("[")) {
                next = "the '" + next.charAt(0) + "'";
            } else if (next.length() > 40) {
                next = next.substring(0, 37) + "...";
            }
            what = "a ',' is missing " + (comma[1] == line ? "before " + next + " (column " + (comma[2] + 1) + ")"
                    : "at the end of the line, before " + next + " on line " + comma[1])
                    + " (or the '" + (list ? "]" : "}") + "' that closes the " + (list ? "list" : "mapping") + " opened at line "
                    + (open.getLine() + 1) + ", column " + (open.getColumn() + 1) + "; SnakeYAML: " + problem + ")";
        } else if ((unclosed = unclosedFlow(e)) != null) {
            // SnakeYAML names where it gave up (the next line's key, or the end of the text, a line past the last one)
            // and the collection it was reading only as context: the bracket never closed is the mistake, and where
            // it opened is the line to name. The column hint below would compare keys that line up.
            Mark open = e.getContextMark();
            int openLine = open.getLine() + 1;
            boolean list = unclosed;
            String bracket = list ? "[" : "{";
            String closer = list ? "]" : "}";
            String where = e.getProblem().endsWith("<stream end>") ? "at the end of the text" : "before line " + line;
            line = openLine;
            String opened = lineText(openLine);
            java.util.regex.Matcher om = LINE_KEY.matcher(opened);
            om.find();
            String openKey = om.group(3) == null ? null : om.group(3).strip();
            field = openKey != null ? field(openKey, columns(om.group(1)), om.group(2).isEmpty() ? -1 : columns(om.group(1) + om.group(2)) - 2)
                    : lastKey != null && lastKey.line() <= openLine ? lastKey.path() : field;
            what = "the flow " + (list ? "list" : "mapping") + " '" + bracket + "' opened at column " + (open.getColumn() + 1)
                    + " is not closed " + where + ": add the missing '" + closer + "' (SnakeYAML: " + problem + ")";
        } else {
            String context = e.getContext() == null ? "" : e.getContext() + ": ";
            what = context + problem;
            if (key != null && lastBlockKey != null && lastBlockKey.line() < line) {
                what += " (line " + line + " starts \"" + key + ":\" at column " + (columns(km.group(1) + km.group(2)) + 1)
                        + "; the key before it, " + lastBlockKey.path() + " on line " + lastBlockKey.line() + ", is at column "
                        + (lastBlockKey.column() + 1) + ": keys of one mapping start in the same column, a nested one further right)";
            }
        }
        return new PolicyLoadException(file, line, field, "invalid YAML: " + what, e);
    }

    /**
     * Whether {@code e} is SnakeYAML's "while scanning a simple key: could not find expected ':'" for a word on an
     * earlier line than where it gave up: a key written without its colon, or a stray word (ScannerImpl
     * stalePossibleSimpleKeys; its context mark is where the word starts).
     */
    private static boolean noColon(MarkedYAMLException e) {
        return "while scanning a simple key".equals(e.getContext()) && e.getContextMark() != null
                && e.getProblem() != null && e.getProblem().startsWith("could not find expected ':'")
                && (e.getProblemMark() == null || e.getProblemMark().getLine() > e.getContextMark().getLine());
    }

    /**
     * The path of the mapping a line indented {@code column} (a list item's dash at {@code dash}, -1: none) sits in,
     * among the keys read before it; "" at the top level.
     */
    private String enclosing(int column, int dash) {
        int limit = dash >= 0 ? dash : column;
        for (int i = keys.size() - 1; i >= 0; i--) {
            KeyAt k = keys.get(i);
            if (k.column() < limit || k.column() == limit && dash >= 0) {
                return dash >= 0 ? k.path() : k.inline() ? k.parent() : k.path();
            }
            if (k.column() == limit) {
                return k.parent();
            }
        }
        return "";
    }

    /** {@link #unclosedQuote} for a flow collection SnakeYAML failed to read on a line after the one it opened on. */
    private int[] quoteInFlow(MarkedYAMLException e) {
        boolean flow = "while parsing a flow sequence".equals(e.getContext()) || "while parsing a flow mapping".equals(e.getContext());
        return flow && e.getContextMark() != null && e.getProblemMark() != null
                && e.getProblemMark().getLine() > e.getContextMark().getLine()
                ? unclosedQuote(e.getContextMark(), e.getProblemMark()) : null;
    }

    /**
     * The first quoted scalar that opens between {@code from} and {@code to} and is not closed on its own line:
     * {line (1-based), column (1-based), quote character}; null if none. A quote starts a scalar only where a scalar
     * may start (after '[', '{', ',', ': ', '- ' or the indentation); an apostrophe inside a word is none.
     */
    private int[] unclosedQuote(Mark from, Mark to) {
        if (from == null || to == null) {
            return null;
        }
        for (int l = from.getLine() + 1; l <= Math.min(to.getLine() + 1, lineStarts().length); l++) {
            String t = lineText(l);
            int i = l == from.getLine() + 1 ? Math.min(from.getColumn(), t.length()) : 0;
            char prev = ' ';
            for (; i < t.length(); i++) {
                char c = t.charAt(i);
                if (c == '#' && prev == ' ') {
                    break;
                }
                if ((c == '"' || c == '\'') && (prev == ' ' || prev == '[' || prev == '{' || prev == ',' || prev == ':' || prev == '-')) {
                    int j = i + 1;
                    for (; j < t.length(); j++) {
                        char d = t.charAt(j);
                        if (c == '"' && d == '\\') {
                            j++;
                        } else if (d == c) {
                            if (c == '\'' && j + 1 < t.length() && t.charAt(j + 1) == '\'') {
                                j++;
                            } else {
                                break;
                            }
                        }
                    }
                    if (j >= t.length()) {
                        return new int[] {l, i + 1, c};
                    }
                    i = j;
                    prev = c;
                    continue;
                }
                if (c != ' ' && c != '\t') {
                    prev = c;
                } else {
                    prev = ' ';
                }
            }
        }
        return null;
    }

    /**
     * Whether {@code e} is a flow collection left open: true for a list, false for a mapping, null for any other
     * error. SnakeYAML (ParserImpl) reads one with the context "while parsing a flow sequence" or "... flow mapping",
     * its mark where the collection opened, and fails at the first token that neither continues nor closes it. Left
     * open means that token is the end of the text, or on a later line indented no further than the line the
     * collection opened on (the block structure resumed); an error on a line further right, inside a collection
     * written over several lines (a missing comma), is not this.
     */
    /**
     * For SnakeYAML's "expected ',' or '}'" ("... or ']'") inside a flow collection of a JSON text, where the entry it
     * got is a quoted key or a value that follows another with no ',' between: {the line the ',' is missing on, the
     * line of the entry SnakeYAML got, its 0-based column}; null otherwise. JSON is a quoted key ({@code "spec":}), a
     * {@code .json} file, or a text whose first non-blank character is '{'. In YAML the same error is more often a
     * bracket left open before a block key (unclosedFlow), and is left to it.
     */
    private int[] missingComma(MarkedYAMLException e) {
        String c = e.getContext();
        Mark open = e.getContextMark();
        Mark at = e.getProblemMark();
        String problem = e.getProblem();
        if (!"while parsing a flow mapping".equals(c) && !"while parsing a flow sequence".equals(c) || open == null || at == null
                || problem == null || !problem.startsWith("expected ',' or ") || problem.endsWith("<stream end>")) {
            return null;
        }
        int atLine = at.getLine() + 1;
        String got = lineText(atLine);
        if (at.getColumn() > got.length()) {
            return null;
        }
        String rest = got.substring(at.getColumn());
        boolean quotedKey = rest.matches("\"(?:[^\"\\\\]|\\\\.)*\"\\s*:.*");
        boolean json = quotedKey || file.toString().endsWith(".json") || text.stripLeading().startsWith("{");
        if (!json) {
            return null;
        }
        if (!got.substring(0, at.getColumn()).isBlank()) {
            return new int[] {atLine, atLine, at.getColumn()};
        }
        int prev = atLine - 1;
        while (prev > open.getLine() + 1 && lineText(prev).isBlank()) {
            prev--;
        }
        return new int[] {Math.max(prev, open.getLine() + 1), atLine, at.getColumn()};
    }

    private Boolean unclosedFlow(MarkedYAMLException e) {
        String c = e.getContext();
        Mark open = e.getContextMark();
        Mark at = e.getProblemMark();
        boolean list = "while parsing a flow sequence".equals(c);
        boolean end = e.getProblem() != null && e.getProblem().endsWith("<stream end>");
        if (!list && !"while parsing a flow mapping".equals(c) || open == null || at == null || !end && at.getLine() <= open.getLine()) {
            return null;
        }
        String atLine = lineText(at.getLine() + 1);
        String openLine = lineText(open.getLine() + 1);
        int openIndent = openLine.length() - openLine.stripLeading().length();
        boolean resumed = !atLine.isBlank() && atLine.length() - atLine.stripLeading().length() <= openIndent;
        return end || resumed ? list : null;
    }

    /**
     * Takes documents and every list's items one at a time and keeps nothing: what {@link #tabField} reads the text
     * again with, once per candidate width, so that each reading holds one item at a time (held whole, a 20,000-item
     * list read again ran the node proxy out of memory).
     */
    private static final Sink DISCARD = new Sink() {
        @Override
        public void accept(YNode document) {
        }

        @Override
        public boolean streamsItems(String kind, String apiVersion) {
            return true;
        }

        @Override
        public void item(YNode item) {
        }
    };

    /** Tab stops a tab in the indentation is tried at: its intended width is unknown (editors use 2, 4 or 8). */
    private static final int[] TAB_STOPS = {2, 4, 8};

    /**
     * The field of line {@code line} for a tab of unknown width in its indentation ({@code indent}, before the
     * list dashes {@code dashes}; first key {@code key}). The text is read again with that indentation replaced
     * by spaces, at each width that places the line somewhere the structure above allows (the column of each
     * key still open, two more, and what tab stops of 2, 4 and 8 give; never column 0, a tab indents); a width with which the text reads
     * without error, and leaves neither this line's key nor the key on the line above with an empty block (a
     * key with nothing on its line and nothing inside it below), gives a reading: the path of {@code key}. One
     * reading is the field (right after {@code matchLabels:} only its child reads so); several give the longest
     * path they share and each reading, the tab making the level ambiguous. Returns {@code {field, text to
     * append}}, or null (no reading, or a tab among the dashes: the caller's placement stays). A new-user pass
     * replaced a whole indentation with a tab and got {@code spec.app} for {@code spec.selector.matchLabels.app}.
     */
    private String[] tabField(int line, String indent, String dashes, String key) {
        if (dashes.indexOf('\t') >= 0) {
            return null;
        }
        boolean afterOpener = lastKey != null && !lastKey.inline() && onlyBlankOrCommentsBetween(lastKey.line(), line);
        java.util.TreeMap<Integer, List<Integer>> widths = new java.util.TreeMap<>(); // leading spaces -> tab stops giving it
        for (KeyAt k : keys) {
            widths.putIfAbsent(k.column(), new ArrayList<>());
            widths.putIfAbsent(k.column() + 2, new ArrayList<>());
        }
        widths.remove(0); // a tab indents: the line was not meant at the top level
        for (int stop : TAB_STOPS) {
            int w = 0;
            for (int i = 0; i < indent.length(); i++) {
                w = indent.charAt(i) == '\t' ? (w / stop + 1) * stop : w + 1;
            }
            widths.computeIfAbsent(w, x -> new ArrayList<>()).add(stop);
        }
        Map<String, List<Integer>> readings = new LinkedHashMap<>();
        int start = lineStart(line);
        for (var w : widths.entrySet()) {
            // Built in one buffer of the final size: two substrings and a concatenation held ~4 copies of a 20,000-item list.
            String again = new StringBuilder(text.length() - indent.length() + w.getKey()).append(text, 0, start)
                    .append(" ".repeat(w.getKey())).append(text, start + indent.length(), text.length()).toString();
            YamlDocuments d = new YamlDocuments(file, again);
            d.wantLine = line;
            d.emptyBlockLines = afterOpener ? new int[] {line, lastKey.line()} : new int[] {line};
            try {
                d.documents(DISCARD);
            } catch (PolicyLoadException | YAMLException doesNotRead) {
                continue;
            }
            if (d.pathAtWantLine != null && !d.emptyBlock) {
                readings.computeIfAbsent(d.pathAtWantLine, p -> new ArrayList<>()).addAll(w.getValue());
            }
        }
        if (readings.isEmpty()) {
            return null;
        }
        if (readings.size() == 1) {
            return new String[] {readings.keySet().iterator().next(), ""};
        }
        StringBuilder said = new StringBuilder();
        String common = null;
        for (var r : readings.entrySet()) {
            common = common == null ? r.getKey() : commonParent(common, r.getKey());
            said.append(said.length() == 0 ? "" : ", ").append(r.getKey()).append(r.getValue().isEmpty() ? ""
                    : " (tab stops of " + r.getValue().stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(" or ")) + ")");
        }
        return new String[] {common.isEmpty() ? key : common,
            " (the tab's width is unknown, and the line reads as any of " + said + ")"};
    }

    /** The longest dotted path both {@code a} and {@code b} start with ("" if none). */
    private static String commonParent(String a, String b) {
        if (b.startsWith(a + ".") || b.startsWith(a + "[")) {
            return a;
        }
        if (a.startsWith(b + ".") || a.startsWith(b + "[")) {
            return b;
        }
        int end = 0;
        for (int i = 0; i < Math.min(a.length(), b.length()) && a.charAt(i) == b.charAt(i); i++) {
            char c = a.charAt(i);
            if (c == '.' || c == '[') {
                end = i;
            }
        }
        return a.substring(0, end);
    }

    /** Whether the lines strictly between {@code from} and {@code to} (1-based) are blank or comments. */
    private boolean onlyBlankOrCommentsBetween(int from, int to) {
        for (int l = from + 1; l < to; l++) {
            String t = lineText(l).strip();
            if (!t.isEmpty() && !t.startsWith("#")) {
                return false;
            }
        }
        return from < to;
    }

    /** Offset in the text where line {@code line} (1-based) starts; the text's length past its last line. */
    private int lineStart(int line) {
        int[] starts = lineStarts();
        return line <= 1 ? 0 : line - 1 < starts.length ? starts[line - 1] : text.length();
    }

    /**
     * Offset of each line's start ({@code [0]} is line 1), built at the first lookup: every mapping key
     * asks for its line's text, and scanning from the top each time made a 10,000-policy file (3.8 MB)
     * take 73 s to load instead of 2 s.
     */
    private int[] lineStarts() {
        int[] starts = lineStarts;
        if (starts == null) {
            int n = 1;
            for (int i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
                n++;
            }
            starts = new int[n];
            int l = 1;
            for (int i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
                starts[l++] = i + 1;
            }
            lineStarts = starts;
        }
        return starts;
    }

    /**
     * Where a line holding {@code key} (null: no key) at {@code column}, after list dashes whose last is at
     * {@code dash} (-1: none), sits by its indentation among the keys read before it: the dotted path
     * the loader's other errors name, else the nearest enclosing key's.
     */
    private String field(String key, int column, int dash) {
        int i = keys.size() - 1;
        // A dashed line starts an item of the list under the key at or left of its dash (an indentless list).
        int limit = dash >= 0 ? dash : column;
        while (i >= 0 && keys.get(i).column() > limit) {
            i--;
        }
        String parent;
        if (i < 0) {
            parent = "";
        } else {
            KeyAt k = keys.get(i);
            if (dash >= 0) {
                parent = k.path() + "[" + nextIndex(k.path()) + "]";
            } else if (k.column() == column || k.inline()) {
                // Its sibling (a key under a scalar cannot be its child: read it as the sibling it was meant to be).
                parent = k.parent();
            } else {
                // Right of a list's key: inside its last item.
                int item = nextIndex(k.path()) - 1;
                parent = item >= 0 ? k.path() + "[" + item + "]" : k.path();
            }
        }
        if (key == null) {
            return parent.isEmpty() && lastKey != null ? lastKey.path() : parent;
        }
        return parent.isEmpty() ? key : parent + "." + key;
    }

    /** The index a new item of the list at {@code listPath} gets: one past the last read, from the last key's path. */
    private int nextIndex(String listPath) {
        String prefix = listPath + "[";
        if (lastKey == null || !lastKey.path().startsWith(prefix)) {
            return 0;
        }
        int end = lastKey.path().indexOf(']', prefix.length());
        try {
            return Integer.parseInt(lastKey.path().substring(prefix.length(), end)) + 1;
        } catch (RuntimeException notAnIndex) {
            return 0;
        }
    }

    /** Width of leading white space, a tab counted as one indentation step of two columns (the user's intent). */
    private static int columns(String indent) {
        int c = 0;
        for (int i = 0; i < indent.length(); i++) {
            c += indent.charAt(i) == '\t' ? 2 : 1;
        }
        return c;
    }

    /** Line {@code line} (1-based) of the text, without its line break. */
    private String lineText(int line) {
        int[] starts = lineStarts();
        if (line - 1 >= starts.length) {
            return "";
        }
        int start = line <= 1 ? 0 : starts[line - 1];
        int end = text.indexOf('\n', start);
        String t = end < 0 ? text.substring(start) : text.substring(start, end);
        return t.endsWith("\r") ? t.substring(0, t.length() - 1) : t;
    }

    private boolean lastKeyInline(int keyLine, Event k) {
        return k.getEndMark() != null && inlineValue(keyLine, k.getEndMark().getColumn());
    }

    /** Whether the value of the key on {@code line} starts on that line ({@code name: x}), not below it. */
    private boolean inlineValue(int line, int keyEndColumn) {
        // Read in place (asked for every key), from the key's end to the first character after its colon that is not
        // white space, never past the line's end: the line's end comes from the index, not from a search for the next
        // line feed, which on one long line (a JSON document written on one line) scanned the rest of the text for
        // every key (10,000 policies: 12 s instead of 3).
        int[] starts = lineStarts();
        if (line - 1 >= starts.length) {
            return false;
        }
        int start = line <= 1 ? 0 : starts[line - 1];
        int end = line < starts.length ? starts[line] - 1 : text.length();
        if (end > start && text.charAt(end - 1) == '\r') {
            end--;
        }
        int i = start + keyEndColumn;
        while (i < end && text.charAt(i) != ':') {
            i++;
        }
        for (i++; i < end; i++) {
            char c = text.charAt(i);
            if (!Character.isWhitespace(c)) {
                return "#|>&!".indexOf(c) < 0;
            }
        }
        return false;
    }

    static int lineAt(String text, int offset) {
        int line = 1;
        for (int i = 0; i < offset && i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    private int documents(Sink sink) throws PolicyLoadException {
        this.sink = sink;
        int docs = 0;
        while (true) {
            Event e = parser.getEvent();
            switch (e.getEventId()) {
                case StreamStart, DocumentEnd, Comment -> {
                }
                case StreamEnd -> {
                    return docs;
                }
                case DocumentStart -> {
                    anchors = new HashMap<>();
                    anchorSizes = new HashMap<>();
                    keys.clear();
                    lastKey = null;
                    lastBlockKey = null;
                    nodes = 0;
                    aliasNodes = 0;
                    ahead = null;
                    streamedAnchors.clear();
                    Event root = parser.getEvent();
                    rootStart = root.getStartMark() == null ? -1 : segmentStart >= 0 ? segmentStart
                            : lineStart(root.getStartMark().getLine() + 1);
                    YNode doc = node(root, "", 0);
                    // The text after this document is parsed up to the next one's start before this one is handed
                    // over: text that goes on without "---" (a first line indented deeper than the rest, as pasted)
                    // ends the document early, and its syntax error, not the cut document's missing kind, is the
                    // cause to report (a typo pass: "p.yaml:1: kind is required" for a kind on line 2).
                    if (parser.checkEvent(Event.ID.DocumentEnd)) {
                        parser.getEvent();
                        try {
                            parser.peekEvent();
                        } catch (MarkedYAMLException next) {
                            if (!nextJsonObject(next)) {
                                throw next;
                            }
                        }
                    }
                    if (!doc.isNull()) {
                        docs++;
                        sink.accept(doc);
                    }
                }
                default -> throw new PolicyLoadException(file, line(e), "", "invalid YAML: unexpected " + e.getEventId());
            }
        }
    }

    /** Offset in the text where the JSON object being read starts, when it follows another ({@link #nextJsonObject}); else -1. */
    private int segmentStart = -1;

    /**
     * Whether {@code e}, SnakeYAML's refusal of a second document that starts without "---", is a JSON object after
     * a JSON object in a text that starts with '{': then the parser goes on reading from it, as kubectl does. kubectl
     * reads a stream whose first non-space character is '{' with Go's json.Decoder, which takes values one after the
     * other ({@code {...}{...}}, or one a line as {@code jq -c '.items[]'} writes), each an object
     * (k8s.io/apimachinery pkg/util/yaml decoder.go: YAMLOrJSONDecoder, GuessJSONStream, hasJSONPrefix).
     */
    private boolean nextJsonObject(MarkedYAMLException e) throws PolicyLoadException {
        Mark at = e.getProblemMark();
        if (at == null || !"expected '<document start>', but found '{'".equals(e.getProblem()) || !startsWithBrace()) {
            return false;
        }
        int line = at.getLine() + 1;
        int start = lineStart(line);
        // The mark's column counts code points; the text is indexed by chars.
        int offset = start;
        for (int c = 0; c < at.getColumn() && offset < text.length(); c++) {
            offset += Character.charCount(text.codePointAt(offset));
        }
        if (offset >= text.length() || text.charAt(offset) != '{') {
            return false;
        }
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(Integer.MAX_VALUE);
        parser = new ParserImpl(new OffsetReader(text.substring(offset), at.getLine(), at.getColumn(), at.getIndex()), options);
        segmentStart = offset;
        return true;
    }

    /** Whether the text's first character other than white space (and a byte order mark) is '{'. */
    private boolean startsWithBrace() {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != '\uFEFF' && !Character.isWhitespace(c)) {
                return c == '{';
            }
        }
        return false;
    }

    /** Reads a tail of the text, its marks placed where the tail starts in the whole text (lines and columns as the text's). */
    private static final class OffsetReader extends StreamReader {
        private final int line;
        private final int column;
        private final int index;

        OffsetReader(String tail, int line, int column, int index) {
            super(new StringReader(tail));
            this.line = line;
            this.column = column;
            this.index = index;
        }

        @Override
        public Mark getMark() {
            Mark m = super.getMark();
            return new Mark(m.getName(), m.getIndex() + index, m.getLine() + line,
                    m.getLine() == 0 ? m.getColumn() + column : m.getColumn(), m.getBuffer(), m.getPointer());
        }
    }

    private static int line(Event e) {
        return e.getStartMark() == null ? 0 : e.getStartMark().getLine() + 1;
    }

    private PolicyLoadException tooLarge(int line, String path) {
        return new PolicyLoadException(file, line, path,
                "document too large after alias expansion (more than " + MAX_ALIAS_NODES + " nodes from aliases)");
    }

    private YNode node(Event e, String path, int depth) throws PolicyLoadException {
        while (e.getEventId() == Event.ID.Comment) {
            e = parser.getEvent();
        }
        int line = line(e);
        if (e instanceof AliasEvent a) {
            if (streamedAnchors.contains(a.getAnchor())) {
                throw new PolicyLoadException(file, line, path, "*" + a.getAnchor() + " is an alias of the items list, which is"
                        + " read one item at a time and not kept: write the items out instead of aliasing the list");
            }
            YNode target = anchors.get(a.getAnchor());
            if (target == null) {
                throw new PolicyLoadException(file, line, path, "unknown alias *" + a.getAnchor());
            }
            int size = anchorSizes.get(a.getAnchor());
            if (aliasNodes + size > MAX_ALIAS_NODES) {
                throw tooLarge(line, path);
            }
            aliasNodes += size;
            nodes += size;
            return copy(target, path, line);
        }
        int before = nodes++;
        YNode result;
        if (e instanceof ScalarEvent s) {
            result = scalar(s, line, path);
        } else if (e instanceof SequenceStartEvent) {
            if (depth >= MAX_DEPTH) {
                throw new PolicyLoadException(file, line, path, "nested deeper than " + MAX_DEPTH + " levels");
            }
            YNode list = new YNode(YNode.Type.LIST, file, line, path, null, null, new ArrayList<>());
            Event next;
            int i = 0;
            while ((next = parser.getEvent()).getEventId() != Event.ID.SequenceEnd) {
                if (next.getEventId() == Event.ID.Comment) {
                    continue;
                }
                list.list.add(node(next, path + "[" + i++ + "]", depth + 1));
            }
            result = list;
        } else if (e instanceof MappingStartEvent ms) {
            if (depth >= MAX_DEPTH) {
                throw new PolicyLoadException(file, line, path, "nested deeper than " + MAX_DEPTH + " levels");
            }
            result = mapping(line, path, depth, ms.isFlow());
        } else {
            throw new PolicyLoadException(file, line, path, "invalid YAML: unexpected " + e.getEventId());
        }
        String anchor = e instanceof NodeEvent ne ? ne.getAnchor() : null;
        if (anchor != null) {
            anchors.put(anchor, result);
            anchorSizes.put(anchor, nodes - before);
        }
        return result;
    }

    private YNode mapping(int line, String path, int depth, boolean flow) throws PolicyLoadException {
        YNode map = new YNode(YNode.Type.MAP, file, line, path, null, new LinkedHashMap<>(), null);
        List<YNode> merged = new ArrayList<>();
        int keysBefore = keys.size();
        Event k;
        while ((k = parser.getEvent()).getEventId() != Event.ID.MappingEnd) {
            if (k.getEventId() == Event.ID.Comment) {
                continue;
            }
            int keyLine = line(k);
            if (!(k instanceof ScalarEvent ks)) {
                throw new PolicyLoadException(file, keyLine, path, "mapping keys must be scalars");
            }
            String key = share(ks.getValue());
            boolean merge = ks.isPlain() && key.equals("<<") && ks.getTag() == null;
            String childPath = merge ? path : path.isEmpty() ? key : path + "." + key;
            int column = k.getStartMark() == null ? 0 : k.getStartMark().getColumn();
            while (!keys.isEmpty() && keys.get(keys.size() - 1).column() >= column) {
                keys.remove(keys.size() - 1);
            }
            if (keyLine == wantLine && pathAtWantLine == null) {
                pathAtWantLine = childPath;
            }
            lastKey = new KeyAt(path, childPath, keyLine, column,
                    k.getEndMark() != null && inlineValue(keyLine, k.getEndMark().getColumn()));
            keys.add(lastKey);
            if (!flow) {
                lastBlockKey = lastKey;
            }
            Event v = parser.getEvent();
            while (v.getEventId() == Event.ID.Comment) {
                v = parser.getEvent();
            }
            YNode value;
            if (depth == 0 && key.equals("items") && v instanceof SequenceStartEvent items
                    && sink.streamsItems(rootText(map, "kind"), rootText(map, "apiVersion"))) {
                // A second items key is read without handing its items on: the duplicate key is the error.
                value = streamItems(line(v), childPath, depth + 1, items.getAnchor(), map.map.containsKey(key));
            } else {
                value = node(v, childPath, depth + 1);
            }
            if (emptyBlockLines != null && value.isNull() && !lastKeyInline(keyLine, k)) {
                for (int l : emptyBlockLines) {
                    emptyBlock |= l == keyLine;
                }
            }
            if (merge) {
                // YAML merge key: a mapping or a list of mappings; explicit keys win, then earlier sources.
                if (value.type == YNode.Type.MAP) {
                    merged.add(value);
                } else if (value.type == YNode.Type.LIST) {
                    for (YNode m : value.list) {
                        if (m.type != YNode.Type.MAP) {
                            throw m.error("merge key << needs mappings, found " + m.describe());
                        }
                        merged.add(m);
                    }
                } else {
                    throw value.error("merge key << needs a mapping or a list of mappings, found " + value.describe());
                }
                continue;
            }
            if (map.map.containsKey(key)) {
                throw new PolicyLoadException(file, keyLine, childPath,
                        "duplicate key \"" + key + "\" (first at line " + map.map.get(key).line + ")");
            }
            value.keyLine = keyLine;
            value.keyPlain = ks.isPlain() && ks.getTag() == null;
            map.map.put(key, value);
        }
        if (flow) {
            // A closed flow mapping's keys hold no later line. Keys pop by column, and a document written on one line
            // (JSON) never moves left: kept, 20,000 policies' keys and paths filled a 96 MB heap.
            while (keys.size() > keysBefore) {
                keys.remove(keys.size() - 1);
            }
        }
        for (YNode m : merged) {
            for (Map.Entry<String, YNode> e : m.map.entrySet()) {
                if (!map.map.containsKey(e.getKey())) {
                    // The merged mapping was read (or copied from its anchor) at this very path: no copy needed.
                    map.map.put(e.getKey(), e.getValue());
                }
            }
        }
        return map;
    }

    /**
     * Reads a root {@code items} list (its start event already read) handing each item to the sink as soon as it is
     * built, so that a {@code kind: List} of 20,000 policies ({@code kubectl get ... -o yaml}, 8.6 MB) is held one
     * item at a time: held whole, it did not fit the node proxy's 128 MB heap. Anchors in items stay readable by
     * later items, as in a list held whole.
     */
    private YNode streamItems(int line, String path, int depth, String anchor, boolean drop) throws PolicyLoadException {
        if (depth >= MAX_DEPTH) {
            throw new PolicyLoadException(file, line, path, "nested deeper than " + MAX_DEPTH + " levels");
        }
        if (anchor != null) {
            // Not kept whole, so an alias of it cannot be expanded: said at the alias (node()).
            streamedAnchors.add(anchor);
        }
        nodes++;
        Event next;
        int i = 0;
        while ((next = parser.getEvent()).getEventId() != Event.ID.SequenceEnd) {
            if (next.getEventId() != Event.ID.Comment) {
                YNode item = node(next, path + "[" + i++ + "]", depth + 1);
                if (!drop) {
                    sink.item(item);
                }
            }
        }
        return new YNode(YNode.Type.LIST, file, line, path, null, null, new ArrayList<>());
    }

    /** Anchors of items lists read one item at a time ({@link #streamItems}), in the current document. */
    private final java.util.Set<String> streamedAnchors = new java.util.HashSet<>();

    /**
     * The text of root key {@code key} of the document being read: from {@code root} if it was read before the
     * {@code items} list, else read ahead; null if absent, not a plain or quoted scalar, or unreadable ahead.
     */
    private String rootText(YNode root, String key) {
        YNode n = root.map.get(key);
        if (n != null) {
            return n.type == YNode.Type.SCALAR ? n.scalar : null;
        }
        if (ahead == null) {
            ahead = readAhead();
        }
        return ahead.get(key);
    }

    /** Root scalars of the current document read ahead by {@link #readAhead}; null until asked. */
    private Map<String, String> ahead;

    /**
     * The root mapping's scalar values ({@code kind}, {@code apiVersion}, ...) of the current document, read with a
     * second parser from the line the root starts on to the root's end, events only (no tree: its memory is the
     * parser's). A syntax error ahead ends the reading with what it found, and the main parse reports the error
     * where it is. Costs one more parse of the document, for a list whose kind comes after its items.
     */
    private Map<String, String> readAhead() {
        Map<String, String> found = new HashMap<>();
        if (rootStart < 0) {
            return found;
        }
        StringReader r = new StringReader(text);
        try {
            r.skip(rootStart);
            LoaderOptions options = new LoaderOptions();
            options.setCodePointLimit(Integer.MAX_VALUE);
            ParserImpl p = new ParserImpl(new StreamReader(r), options);
            Event e = p.getEvent();
            while (e.getEventId() == Event.ID.StreamStart || e.getEventId() == Event.ID.DocumentStart) {
                e = p.getEvent();
            }
            if (!(e instanceof MappingStartEvent)) {
                return found;
            }
            while (true) {
                Event k = p.getEvent();
                if (k.getEventId() == Event.ID.MappingEnd) {
                    return found;
                }
                if (!(k instanceof ScalarEvent ks)) {
                    return found; // not a key the main parse takes: it reports it
                }
                Event v = p.getEvent();
                if (v instanceof ScalarEvent vs) {
                    found.putIfAbsent(ks.getValue(), vs.getValue());
                } else if (v instanceof SequenceStartEvent || v instanceof MappingStartEvent) {
                    for (int depth = 1; depth > 0; ) {
                        Event in = p.getEvent();
                        if (in instanceof SequenceStartEvent || in instanceof MappingStartEvent) {
                            depth++;
                        } else if (in.getEventId() == Event.ID.SequenceEnd || in.getEventId() == Event.ID.MappingEnd) {
                            depth--;
                        }
                    }
                }
            }
        } catch (YAMLException | java.io.IOException unreadable) {
            return found;
        }
    }

    /** {@code text}, or an equal String read before it (see {@link #shared}). */
    private String share(String text) {
        if (text.length() > 64) {
            return text;
        }
        int slot = text.hashCode() & (shared.length - 1);
        String before = shared[slot];
        if (text.equals(before)) {
            return before;
        }
        shared[slot] = text;
        return text;
    }

    private YNode scalar(ScalarEvent s, int line, String path) {
        String value = share(s.getValue());
        String tag = s.getTag();
        String resolved;
        if (tag != null && !tag.equals("!")) {
            resolved = tag;
        } else if (s.isPlain()) {
            // go-yaml v2 (sigs.k8s.io/yaml, what kubectl reads with) also takes a plain y, Y, n, N as a boolean
            // (resolve.go resolveMapList); SnakeYAML's YAML 1.1 resolver does not.
            resolved = value.length() == 1 && "yYnN".indexOf(value.charAt(0)) >= 0 ? Tag.BOOL.getValue()
                    : RESOLVER.resolve(NodeId.scalar, value, true).getValue();
            // And go-yaml v2 reads as strings what YAML 1.1 types otherwise: a timestamp (decode.go keeps it a string "for
            // backward compatibility" when decoding into interface{}, as sigs.k8s.io/yaml does), a sexagesimal number
            // (2:30; its resolver has none) and a plain "<<" as a value. So `released: 2024-01-15` is a string label for
            // kubectl and the API server; refused here as "timestamp" it stopped a proxy (a regression pass).
            if (resolved.equals(Tag.TIMESTAMP.getValue()) || resolved.equals(Tag.MERGE.getValue())
                    || (resolved.equals(Tag.INT.getValue()) || resolved.equals(Tag.FLOAT.getValue())) && value.indexOf(':') >= 0) {
                resolved = Tag.STR.getValue();
            }
            // And as numbers what SnakeYAML leaves strings (goYamlNumber: 08080, 09, 0o17): until 6 December such a
            // value loaded as a string (ports: [08080] as port 8080, matchLabels {version: 08} as "08") where
            // kubectl sends a JSON number and the API server refuses the object.
            if (resolved.equals(Tag.STR.getValue())) {
                String number = goYamlNumber(value);
                if (number != null) {
                    resolved = number.equals("int") ? Tag.INT.getValue() : Tag.FLOAT.getValue();
                }
            }
        } else {
            resolved = Tag.STR.getValue();
        }
        YNode.Type type = resolved.equals(Tag.NULL.getValue()) ? YNode.Type.NULL : YNode.Type.SCALAR;
        return new YNode(type, file, line, path, type == YNode.Type.NULL ? null : value, null, null, shortTag(resolved));
    }

    /**
     * The JSON object key kubectl writes for a plain YAML map key, or null when it refuses the key (a null). kubectl reads
     * YAML with go-yaml v2 (sigs.k8s.io/yaml), whose {@code resolve} types a plain scalar starting with a digit or sign as
     * {@code strconv.ParseInt(s without '_', 0, 64)} reads it (so {@code 0x50}, {@code 0o120}, {@code 0b1010000}, {@code
     * 8_0} and {@code +80} are 80 and {@code 0755} is octal 493), else {@code ParseUint}, else a float when it looks like
     * one ({@code 08080} and {@code 8e1} are floats: 8080 and 80); the words of its {@code resolveMap} are booleans,
     * nulls, {@code .inf} and {@code .nan}. sigs.k8s.io/yaml {@code convertToJSONableMapKey} then writes an int in
     * decimal, a float as {@code strconv.FormatFloat(f, 'g', -1, 32)} ({@code .inf} for +Inf), a bool as
     * {@code true}/{@code false}, and refuses any other type. Used to say what the cluster's copy holds where zerohop
     * refuses a key.
     */
    static String kubectlMapKey(String plain) {
        switch (plain) {
            case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE":
                return "true";
            case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
                return "false";
            case "", "~", "null", "Null", "NULL":
                return null;
            case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
                return ".inf";
            case "-.inf", "-.Inf", "-.INF":
                return "-.inf";
            case ".nan", ".NaN", ".NAN":
                return ".nan";
            default:
                break;
        }
        char c = plain.charAt(0);
        if (!(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') {
            return plain;
        }
        String s = c == '.' ? plain : plain.replace("_", "");
        if (c != '.') {
            java.math.BigInteger i = goParseInt(s);
            if (i != null && i.bitLength() < 64) {
                return i.toString();
            }
            if (s.matches("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?")) {
                return goFloatKey(Double.parseDouble(s));
            }
            if (s.startsWith("0b") || s.startsWith("-0b")) {
                boolean neg = s.startsWith("-");
                String digits = s.substring(neg ? 3 : 2);
                if (!digits.isEmpty() && digits.matches("[01]+")) {
                    java.math.BigInteger b = new java.math.BigInteger(digits, 2);
                    return (neg ? b.negate() : b).toString();
                }
            }
            return plain;
        }
        try {
            return goFloatKey(Double.parseDouble(s));
        } catch (NumberFormatException notAFloat) {
            return plain;
        }
    }

    /** Go's {@code strconv.ParseInt(s, 0, 64)} without its range check: sign, then 0x/0o/0b/0 prefix or decimal. */
    private static java.math.BigInteger goParseInt(String s) {
        boolean neg = s.startsWith("-");
        String d = s.startsWith("-") || s.startsWith("+") ? s.substring(1) : s;
        int radix = 10;
        if (d.length() > 2 && d.charAt(0) == '0' && "xXoObB".indexOf(d.charAt(1)) >= 0) {
            radix = switch (Character.toLowerCase(d.charAt(1))) {
                case 'x' -> 16;
                case 'o' -> 8;
                default -> 2;
            };
            d = d.substring(2);
        } else if (d.length() > 1 && d.charAt(0) == '0') {
            radix = 8;
            d = d.substring(1);
        }
        if (d.isEmpty()) {
            return null;
        }
        for (int i = 0; i < d.length(); i++) {
            if (Character.digit(d.charAt(i), radix) < 0 || d.charAt(i) > 'z') {
                return null; // checked first: most plain scalars with a leading digit are addresses or versions
            }
        }
        java.math.BigInteger v = new java.math.BigInteger(d, radix);
        return neg ? v.negate() : v;
    }

    private static final java.util.regex.Pattern GO_YAML_FLOAT =
            java.util.regex.Pattern.compile("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");

    /**
     * Whether go-yaml v2 (what kubectl reads YAML with, through sigs.k8s.io/yaml) types plain scalar {@code plain} as a
     * number where SnakeYAML's resolver left a string: its {@code resolve} reads a scalar starting with a digit or sign
     * as {@code strconv.ParseInt(s without '_', 0, 64)}, then {@code ParseUint}, then a float when {@code yamlStyleFloat}
     * matches, then {@code 0b} binary, and one starting with {@code .} as {@code ParseFloat}. So {@code 08080} and
     * {@code 09} (floats: no octal digits), {@code 0o17} (Go's octal prefix) are numbers for kubectl, and the API server
     * refuses them where the schema wants a string. Returns the tag ({@code int} or {@code float}) or null.
     */
    static String goYamlNumber(String plain) {
        if (plain.isEmpty()) {
            return null;
        }
        char c = plain.charAt(0);
        if (c == '.') {
            return plain.length() > 1 && GO_YAML_FLOAT.matcher(plain).matches() ? "float" : null;
        }
        if (!(c >= '0' && c <= '9') && c != '+' && c != '-') {
            return null;
        }
        String s = plain.indexOf('_') >= 0 ? plain.replace("_", "") : plain;
        if (goParseInt(s) != null) {
            return "int";
        }
        if (GO_YAML_FLOAT.matcher(s).matches()) {
            return "float";
        }
        if (s.startsWith("0b") || s.startsWith("-0b")) {
            String digits = s.substring(s.startsWith("-") ? 3 : 2);
            return !digits.isEmpty() && digits.chars().allMatch(ch -> ch == '0' || ch == '1') ? "int" : null;
        }
        return null;
    }

    /**
     * The integer kubectl sends for a scalar the loader typed {@code int} or {@code float}, or null when it sends none
     * (a string, a fraction, an infinity). go-yaml v2's {@code resolve} (what kubectl reads YAML with, through
     * sigs.k8s.io/yaml) reads an int with {@code strconv.ParseInt(s without '_', 0, 64)}, so {@code 010} is octal 8,
     * {@code 0o17} 15 and {@code 0x1F90} 8080, and a float with {@code strconv.ParseFloat}; sigs.k8s.io/yaml
     * {@code YAMLToJSON} writes a float64 with {@code encoding/json}, so {@code 08080}, {@code 8080.0} and {@code 8e3}
     * reach the API server as the JSON numbers 8080 and 8000, which a CRD's {@code type: integer} takes. A scalar that
     * is not plain is a string (its tag says so) unless explicitly tagged.
     */
    static java.math.BigInteger kubectlInteger(String text, String tag) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        String s = text.indexOf('_') >= 0 ? text.replace("_", "") : text;
        if ("int".equals(tag)) {
            return goParseInt(s);
        }
        if ("float".equals(tag) && GO_YAML_FLOAT.matcher(s).matches()) {
            java.math.BigDecimal d = new java.math.BigDecimal(s.startsWith("+") ? s.substring(1) : s);
            if (d.abs().compareTo(java.math.BigDecimal.valueOf(Double.MAX_VALUE)) > 0) {
                return null; // ParseFloat's ErrRange: go-yaml leaves it a string
            }
            double f = d.doubleValue(); // the float64 go-yaml holds; json.Marshal writes its shortest decimal form
            if (f == Math.rint(f) && Math.abs(f) < 1e15) {
                return java.math.BigInteger.valueOf((long) f);
            }
        }
        return null;
    }

    /** {@code strconv.FormatFloat(f, 'g', -1, 32)} for the values a port can be; other values only need to differ. */
    private static String goFloatKey(double f) {
        if (Double.isInfinite(f)) {
            return f > 0 ? ".inf" : "-.inf";
        }
        if (Double.isNaN(f)) {
            return ".nan";
        }
        float g = (float) f;
        if (g == Math.rint(g) && Math.abs(g) < 1e6) {
            return Long.toString((long) g);
        }
        return Float.toString(g);
    }

    private static String shortTag(String tag) {
        return tag.startsWith(Tag.PREFIX) ? tag.substring(Tag.PREFIX.length()) : tag;
    }

    /** Deep copy of an anchored node at a new path, made by the alias on {@code aliasLine}; lines stay those of the anchor's text. */
    private YNode copy(YNode n, String path, int aliasLine) {
        YNode c = switch (n.type) {
            case MAP -> {
                YNode m = new YNode(YNode.Type.MAP, n.file, n.line, path, null, new LinkedHashMap<>(), null);
                for (Map.Entry<String, YNode> e : n.map.entrySet()) {
                    YNode v = copy(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey(), aliasLine);
                    v.keyLine = e.getValue().keyLine;
                    v.keyPlain = e.getValue().keyPlain;
                    m.map.put(e.getKey(), v);
                }
                yield m;
            }
            case LIST -> {
                YNode l = new YNode(YNode.Type.LIST, n.file, n.line, path, null, null, new ArrayList<>());
                for (int i = 0; i < n.list.size(); i++) {
                    l.list.add(copy(n.list.get(i), path + "[" + i + "]", aliasLine));
                }
                yield l;
            }
            default -> new YNode(n.type, n.file, n.line, path, n.scalar, null, null, n.tag);
        };
        c.aliasLine = aliasLine;
        return c;
    }
}
