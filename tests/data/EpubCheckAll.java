import com.adobe.epubcheck.tool.EpubChecker;

/** Run EPUBCheck on every EPUB named on the command line in one JVM, each writing its JSON report beside it. */
public class EpubCheckAll {
    public static void main(String[] paths) {
        for (String path : paths) {
            new EpubChecker().run(new String[] {path, "--json", path + ".epubcheck.json", "--quiet"});
        }
    }
}
