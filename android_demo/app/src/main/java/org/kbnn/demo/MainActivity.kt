package org.kbnn.demo

import android.app.Activity
import android.graphics.Bitmap
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Pick a bundled sample digit: the kbnn model (bitpacked custom ops on [KbnnDelegate]) and its
 * float twin (XNNPACK) both classify it on the stock LiteRT Interpreter. "Measure" reports the
 * median latency of each over [LATENCY_RUNS] runs at the chosen thread count.
 *
 * All inference runs on one background thread, which owns the classifiers.
 */
class MainActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())

    private lateinit var samples: Samples
    private lateinit var digitView: ImageView
    private lateinit var predictionView: TextView
    private lateinit var latencyView: TextView
    private lateinit var measureButton: Button

    private var selected = 0
    private var numThreads = 1

    // Owned by the worker thread.
    private var classifiers: Pair<DigitClassifier, DigitClassifier>? = null
    private var classifierThreads = 0

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        digitView = findViewById(R.id.digit)
        predictionView = findViewById(R.id.prediction)
        latencyView = findViewById(R.id.latency)
        measureButton = findViewById(R.id.measure)

        samples = Samples.load(this)
        val spinner = findViewById<Spinner>(R.id.sample)
        spinner.adapter = ArrayAdapter(
            this,
            android.R.layout.simple_spinner_dropdown_item,
            List(samples.size) { getString(R.string.sample_item, it + 1, samples.labels[it]) },
        )
        spinner.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                selected = position
                showSample()
            }

            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }

        findViewById<RadioGroup>(R.id.threads).setOnCheckedChangeListener { _, checkedId ->
            numThreads = when (checkedId) {
                R.id.threads_2 -> 2
                R.id.threads_4 -> 4
                else -> 1
            }
            latencyView.text = ""
            showSample()
        }
        measureButton.setOnClickListener { measure() }
    }

    override fun onDestroy() {
        worker.execute { closeClassifiers() }
        worker.shutdown()
        super.onDestroy()
    }

    private fun showSample() {
        val index = selected
        val threads = numThreads
        digitView.setImageBitmap(Bitmap.createScaledBitmap(samples.bitmap(index), 256, 256, false))
        predictionView.text = getString(R.string.running)
        worker.execute {
            val text = try {
                val (kbnn, float) = classifiersFor(threads)
                val image = samples.images[index]
                getString(
                    R.string.prediction,
                    kbnn.scores(image).argmax(),
                    float.scores(image).argmax(),
                    samples.labels[index],
                )
            } catch (e: RuntimeException) {
                getString(R.string.error, e.message ?: e.toString())
            }
            main.post { predictionView.text = text }
        }
    }

    private fun measure() {
        val image = samples.images[selected]
        val threads = numThreads
        measureButton.isEnabled = false
        latencyView.text = getString(R.string.measuring, LATENCY_RUNS)
        worker.execute {
            val text = try {
                val (kbnn, float) = classifiersFor(threads)
                val kbnnMicros = kbnn.medianLatencyMicros(image, LATENCY_RUNS)
                val floatMicros = float.medianLatencyMicros(image, LATENCY_RUNS)
                getString(
                    R.string.latency,
                    LATENCY_RUNS,
                    threads,
                    format(kbnnMicros),
                    format(floatMicros),
                    String.format(Locale.US, "%.2f", floatMicros / kbnnMicros),
                )
            } catch (e: RuntimeException) {
                getString(R.string.error, e.message ?: e.toString())
            }
            main.post {
                latencyView.text = text
                measureButton.isEnabled = true
            }
        }
    }

    /** Worker thread only: the (kbnn, float twin) classifiers for [threads], rebuilt on change. */
    private fun classifiersFor(threads: Int): Pair<DigitClassifier, DigitClassifier> {
        classifiers?.let { if (classifierThreads == threads) return it }
        closeClassifiers()
        val kbnn = DigitClassifier(this, KBNN_MODEL, threads, useKbnnDelegate = true)
        val float = try {
            DigitClassifier(this, FLOAT_MODEL, threads, useKbnnDelegate = false)
        } catch (e: RuntimeException) {
            kbnn.close()
            throw e
        }
        classifierThreads = threads
        return Pair(kbnn, float).also { classifiers = it }
    }

    private fun closeClassifiers() {
        classifiers?.let {
            it.first.close()
            it.second.close()
        }
        classifiers = null
    }

    private fun format(micros: Double): String = String.format(Locale.US, "%.1f µs", micros)

    private companion object {
        const val KBNN_MODEL = "kbnn_digits.tflite"
        const val FLOAT_MODEL = "float_digits.tflite"
        const val LATENCY_RUNS = 200
    }
}
